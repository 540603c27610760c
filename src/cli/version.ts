/**
 * The package's version, read from package.json at run time so `waymond --version` is
 * whatever was installed, never a constant that drifts. The file sits two levels above
 * this module both in src/cli (tsx) and in dist/cli (the build and the tarball).
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  if (typeof parsed.version !== 'string') throw new Error(`${file.pathname}: no "version" field`);
  return parsed.version;
}
