/**
 * The small verbs users expect: `waymond status` (against a real daemon), `completion`
 * (the scripts load in real bash, zsh and fish, and bash completes verbs and flags),
 * `--version` (package.json's), `graph --format text`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderText } from '../../src/cli/graph.js';
import { type ComponentInfo, type DecisionInfo, healthOf, renderTable, statusRows } from '../../src/cli/status.js';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';
import { type Daemon, ROOT, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const decision = (over: Partial<DecisionInfo>): DecisionInfo => ({
  time: 1_000_000,
  scaler: 'scaler.a',
  desired: 2,
  observed: 0,
  action: 'scale_up +2 (0 -> 2)',
  outcome: 'ok',
  error: null,
  reason: 'queue 4 / 2 per replica = 2',
  ...over,
});

describe('status rows', () => {
  const components: ComponentInfo[] = [
    { address: 'trigger.t', kind: 'trigger', type: 'interval' },
    { address: 'scaler.a', kind: 'scaler', type: 'process', min: 0, max: 4, desired: 2, observed: 2, ready: 1 },
    { address: 'scaler.b', kind: 'scaler', type: 'noop', min: 1, max: 3 },
  ];

  it('has one row per scaler with the newest decision of each, and tolerates extra fields', () => {
    const withExtras = components.map((c) => ({ ...c, targets: [{ name: 'x', current: 1 }] }));
    const rows = statusRows(
      withExtras,
      [decision({ time: 990_000, reason: 'older' }), decision({ time: 995_000 })],
      1_000_000,
    );
    expect(rows).toEqual([
      {
        scaler: 'scaler.a',
        type: 'process',
        desired: '2',
        current: '2',
        limits: '0..4',
        health: 'starting',
        last: 'scale_up +2 (0 -> 2) ok 5s ago',
        reason: 'queue 4 / 2 per replica = 2',
      },
      {
        scaler: 'scaler.b',
        type: 'noop',
        desired: '-',
        current: '-',
        limits: '1..3',
        health: 'unknown',
        last: '-',
        reason: '-',
      },
    ]);
  });

  it('says failing with the error when the last decision failed', () => {
    const last = decision({ outcome: 'error', error: 'docker: connection refused' });
    expect(healthOf({ address: 'scaler.a', kind: 'scaler', type: 'x', observed: 1, ready: 1 }, last)).toBe('failing');
    expect(statusRows([components[1] as ComponentInfo], [last], 1_000_000)[0]?.reason).toBe(
      'queue 4 / 2 per replica = 2 (error: docker: connection refused)',
    );
    expect(healthOf({ address: 'scaler.a', kind: 'scaler', type: 'x', health: 'degraded' }, undefined)).toBe(
      'degraded',
    );
  });

  it('renders aligned columns, the reason last and uncut', () => {
    const table = renderTable(statusRows(components, [decision({})], 1_000_000)).split('\n');
    expect(table[0]).toMatch(/^SCALER +TYPE +DESIRED +CURRENT +MIN\.\.MAX +HEALTH +LAST DECISION +REASON$/);
    const columns: [string, string][] = [
      ['starting', 'HEALTH'],
      ['scale_up', 'LAST DECISION'],
      ['queue', 'REASON'],
    ];
    for (const [cell, title] of columns) expect(table[1]?.indexOf(cell)).toBe(table[0]?.indexOf(title));
    expect(table[1]?.indexOf('process')).toBe(table[0]?.indexOf('TYPE'));
    expect(table[1]?.endsWith('queue 4 / 2 per replica = 2')).toBe(true);
    expect(renderTable([])).toBe('no scalers\n');
  });
});

describe('waymond status against a running daemon', () => {
  let daemon: Daemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
  });

  it('prints the scalers with their last decision; --json gives the rows', async () => {
    const config = join(dir, 'status.toml');
    writeFileSync(
      config,
      '[[trigger]]\ntype = "http_endpoint"\nid = "hook"\n[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.hook"\nto = "scaler.fleet"\n[[scaler]]\ntype = "noop"\nid = "fleet"\nmax = 5\n[[scaler]]\ntype = "noop"\nid = "idle"\n',
    );
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')]);
    const url = daemon.url;
    await fetch(`${url}/hooks/hook`, { method: 'POST', body: '{"desired":3}' });
    await waitUntil(async () => {
      const { decisions } = (await (await fetch(`${url}/api/decisions?scaler=fleet`)).json()) as {
        decisions: unknown[];
      };
      return decisions.length > 0;
    }, 'a decision');

    const table = runCli(['status', '--url', url]);
    expect(table.status).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SCALER\s+TYPE\s+DESIRED\s+CURRENT\s+MIN\.\.MAX\s+HEALTH\s+LAST DECISION\s+REASON$/);
    expect(lines[1]).toMatch(
      /^scaler\.fleet\s+noop\s+3\s+3\s+0\.\.5\s+ok\s+scale_up \+3 \(0 -> 3\) ok \d+s ago\s+desired 3/,
    );
    expect(lines[2]).toMatch(/^scaler\.idle\s+noop\s+/);

    const json = runCli(['status', '--json'], { WAYMOND_URL: url });
    expect(json.status).toBe(0);
    const rows = JSON.parse(json.stdout) as { scaler: string; desired: string }[];
    expect(rows.map((r) => [r.scaler, r.desired])).toEqual([
      ['scaler.fleet', '3'],
      ['scaler.idle', rows[1]?.desired],
    ]);
  });

  it('says clearly when no daemon answers', async () => {
    // A port that was free a moment ago: nothing listens on it.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const closed = `http://127.0.0.1:${port}`;
    const result = runCli(['status', '--url', closed]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`error: cannot read the daemon at ${closed}: ECONNREFUSED\n`);
  });
});

describe('waymond completion', () => {
  const script = (shell: string) => {
    const result = runCli(['completion', shell]);
    expect(result.status).toBe(0);
    return result.stdout;
  };
  const has = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;

  it('bash: completes verbs, then the flags of the verb typed', () => {
    const file = join(dir, 'waymond.bash');
    writeFileSync(file, script('bash'));
    const complete = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _waymond; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(complete(['waymond', 'st']).split('\n')).toEqual(['status']);
    expect(complete(['waymond', 'status', '--']).split('\n')).toEqual(['--url', '--token-env', '--json', '--help']);
    expect(complete(['waymond', 'run', '--log']).split('\n')).toEqual(['--log-level']);
  });

  it('zsh and fish: the scripts parse and name every verb', () => {
    const verbs = ['run', 'validate', 'graph', 'fire', 'simulate', 'tap', 'status', 'completion', 'schema'];
    const zsh = script('zsh');
    const fish = script('fish');
    for (const verb of verbs) {
      expect(zsh).toContain(`'${verb}:`);
      expect(fish).toContain(`-a ${verb} `);
    }
    expect(fish).toContain(
      "complete -c waymond -n '__fish_seen_subcommand_from graph' -l format -r -a 'mermaid dot text'",
    );
    if (has('zsh')) expect(spawnSync('zsh', ['-n', '-c', zsh], { encoding: 'utf8' }).stderr).toBe('');
    if (has('fish')) expect(spawnSync('fish', ['--no-execute', '-c', fish], { encoding: 'utf8' }).stderr).toBe('');
  });

  it('refuses an unknown shell', () => {
    const result = runCli(['completion', 'tcsh']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish/);
  });
});

describe('waymond --version and graph --format text', () => {
  it('prints the version in package.json', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(runCli(['--version']).stdout).toBe(`${version}\n`);
  });

  it('prints each flow from its source down, a shared component once', () => {
    const file = join(dir, 'graph.toml');
    writeFileSync(
      file,
      [
        '[[trigger]]\ntype = "http_endpoint"\nid = "a"',
        '[[trigger]]\ntype = "http_endpoint"\nid = "b"',
        '[[connect]]\ntype = "combine"\nid = "both"\nfrom = ["trigger.a", "trigger.b"]\nmode = "sum"',
        '[[connect]]\ntype = "policy"\nid = "p"\nfrom = "connector.both"\nto = "scaler.s"\nstrategy = "pass_through"',
        '[[scaler]]\ntype = "noop"\nid = "s"',
      ].join('\n'),
    );
    const config = loadConfigFile(file, defaultRegistry());
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    expect(renderText(config.config.components)).toBe(
      [
        'trigger.a (http_endpoint)',
        '  -> connector.both (combine)',
        '    -> connector.p (policy)',
        '      -> scaler.s (noop)',
        'trigger.b (http_endpoint)',
        '  -> connector.both (combine) (see above)',
      ].join('\n'),
    );
    const cli = runCli(['graph', file, '--format', 'text']);
    expect(cli.stdout).toBe(`${renderText(config.config.components)}\n`);
    expect(runCli(['graph', file, '--format', 'png']).stderr).toMatch(/Allowed choices are mermaid, dot, text/);
  });
});
