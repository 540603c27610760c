import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

function versionOf(node: string): string | undefined {
  if (!existsSync(node)) return undefined;
  return spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
}

// Debian's own Node (20, end of life) is on these machines; waymond must refuse it by name.
const oldNode = '/usr/bin/node';
const oldVersion = versionOf(oldNode);
const isOld = oldVersion !== undefined && Number(oldVersion.split('.')[0]) < 22;

describe('the supported Node versions', () => {
  it('runs on this Node (22.13 or newer), with no SQLite experimental warning', () => {
    const result = spawnSync(process.execPath, [TSX, 'src/cli/main.ts', 'validate', 'examples/quickstart.toml'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stderr).not.toMatch(/ExperimentalWarning/);
  });

  it.skipIf(!isOld)(`refuses an older Node in one line, naming the version (${oldNode} ${oldVersion})`, () => {
    const result = spawnSync(oldNode, [TSX, 'src/cli/main.ts', 'validate', 'examples/quickstart.toml'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `waymond needs Node.js 22.13 or newer (22 and 24 LTS are supported); this is Node.js ${oldVersion}\n`,
    );
  });
});
