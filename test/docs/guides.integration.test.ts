/**
 * Every command of the guides in docs/guides, run against a real daemon on the guide's own
 * config (see guides-runner.ts for the block conventions). A guide whose command fails, or
 * whose stated outcome (`<!-- check: ... -->`) does not happen, fails here.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';
import { GuideRun, parseGuide } from './guides-runner.js';

const guide = (name: string) => readFileSync(join(ROOT, 'docs', 'guides', name), 'utf8');

let current: GuideRun | undefined;
afterEach(async () => {
  const run = current;
  current = undefined;
  try {
    await run?.stopDaemon();
  } finally {
    if (run) rmSync(run.dir, { recursive: true, force: true });
  }
});

async function runGuide(name: string): Promise<void> {
  const steps = parseGuide(guide(name));
  expect(steps.filter((s) => s.kind === 'run').length).toBeGreaterThan(0);
  // no-run blocks stay rare: at most one in four commands.
  const commands = steps.filter((s) => s.kind === 'run' || s.kind === 'skip' || s.kind === 'daemon');
  expect(steps.filter((s) => s.kind === 'skip').length).toBeLessThanOrEqual(Math.ceil(commands.length / 4));
  current = new GuideRun();
  await current.setUp();
  await current.run(steps, process.env.WAYMOND_GUIDE_LOG ? (text) => process.stdout.write(`${text}\n`) : undefined);
  // The last daemon must stop cleanly on SIGTERM, as the guides say Ctrl-C does.
  expect(await current.stopDaemon()).toBe(0);
}

describe('parseGuide', () => {
  it('reads files, commands, daemons, skipped blocks and checks in order', () => {
    const steps = parseGuide(
      [
        '```toml file=a.toml',
        'x = 1',
        '```',
        '```sh daemon',
        'waymond run -c a.toml',
        '```',
        '<!-- check: scaler.s current=2 desired=2 -->',
        '```sh',
        'echo hi',
        '```',
        '```sh no-run',
        'waymond tap',
        '```',
      ].join('\n'),
    );
    expect(steps.map((s) => s.kind)).toEqual(['file', 'daemon', 'check', 'run', 'skip']);
    expect(steps[2]).toMatchObject({ address: 'scaler.s', expect: { current: 2, desired: 2 } });
  });
  it('refuses an unknown sh flag', () => {
    expect(() => parseGuide('```sh maybe\nls\n```\n')).toThrow(/unknown sh block flag "maybe"/);
  });
});

describe('the guides', () => {
  it('first-autoscaler.md: queue -> policy -> processes, a second queue, a cascade', async () => {
    await runGuide('first-autoscaler.md');
  }, 400_000);

  it('production.md', async () => {
    await runGuide('production.md');
  }, 200_000);
});
