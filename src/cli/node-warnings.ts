/**
 * Node 22 prints "SQLite is an experimental feature" when `node:sqlite` loads (Node 24 no
 * longer does). waymond's store is built on it deliberately, so that one warning is
 * dropped; every other warning still prints. Imported first by main.ts.
 */
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (text.includes('SQLite is an experimental feature')) return;
  (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
