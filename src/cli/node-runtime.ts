/**
 * Runs before anything else in the CLI (main.ts imports it first).
 *
 * - waymond needs Node 22.13 or newer (its store is `node:sqlite`): on an older Node it
 *   says so in one line and exits 1, instead of failing later with a missing module.
 * - Node 22 prints "SQLite is an experimental feature" when `node:sqlite` loads (Node 24
 *   no longer does). The store is built on it deliberately, so that one warning is
 *   dropped; every other warning still prints.
 */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `waymond needs Node.js 22.13 or newer (22 and 24 LTS are supported); this is Node.js ${process.versions.node}\n`,
  );
  process.exit(1);
}

const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (text.includes('SQLite is an experimental feature')) return;
  (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
