/**
 * The fault suite (`npm run faults`, and part of `npm test`): the real CLI against real
 * processes, a real Docker engine, real sshd servers, a Redis of its own and a tmpfs. Each
 * case asserts "nothing lost, no duplicates, a named error" and records its figures; the
 * suite prints them in one summary at the end (docs/reliability.md records them). Timings
 * are figures, never asserts.
 *
 * Cases: kill -9 at random moments of scale-up and scale-down (process, docker, ssh); two
 * daemons on one state; a corrupt, deleted and full store; a source outage; hostile bodies
 * and slow clients; secrets grepped in every output. The 10,000 validate mutations are
 * test/config/validate-fuzz.test.ts (run by `npm run faults` too).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hookToNoop } from '../helpers/configs.js';
import { type Daemon, ROOT, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';
import { pidsWithEnv } from '../helpers/procs.js';
import { canConnect } from '../helpers/services.js';
import { dockerFleet, type Figures, type Fleet, processFleet, sshFleet } from './fleets.js';
import { recordFigures, spread, summary } from './summary.js';

const ROUNDS = Number(process.env.WAYMOND_FAULT_ROUNDS ?? 20);
/** docker and ssh members are slower to start: fewer rounds, still at random moments. */
const SLOW_ROUNDS = Math.max(2, Math.round(ROUNDS / 4));

/** Planted secrets: none may appear in any output the suite collects. */
const SECRETS = {
  redisPassword: `redis-pw-${process.pid}-9f2c`,
  adminToken: `admin-token-${process.pid}-51be`,
  cloudKey: `cloud-key-${process.pid}-c0de`,
};
const SECRET_ENV = {
  FAULTS_REDIS_PASSWORD: SECRETS.redisPassword,
  FAULTS_ADMIN_TOKEN: SECRETS.adminToken,
  AWS_SECRET_ACCESS_KEY: SECRETS.cloudKey,
};
/** Every output seen: daemon logs, CLI output, API answers, member logs. */
const outputs: { where: string; text: () => string }[] = [];
const daemons: Daemon[] = [];
const root = mkdtempSync(join(tmpdir(), 'waymond-faults-'));

async function daemon(config: string, state: string, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const d = await startDaemon(['-c', config, '--state', state], { ...SECRET_ENV, ...env });
  daemons.push(d);
  outputs.push({ where: `daemon ${config}`, text: () => d.logs.join('\n') });
  return d;
}

async function kill9(d: Daemon): Promise<void> {
  if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await d.exited;
}

async function api(d: Daemon, path: string, init: RequestInit = {}, token?: string): Promise<Response> {
  const headers = {
    ...(init.headers as Record<string, string>),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const res = await fetch(`${d.url}${path}`, { ...init, headers });
  const text = await res.clone().text();
  outputs.push({ where: `${init.method ?? 'GET'} ${path}`, text: () => text });
  return res;
}

async function post(d: Daemon, desired: number, hook = 'set'): Promise<void> {
  const res = await api(d, `/hooks/${hook}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ desired, reason: 'fault suite' }),
  });
  if (!res.ok) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
}

function writeConfig(name: string, body: string): { dir: string; config: string; state: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'waymond.toml');
  writeFileSync(config, body);
  return { dir, config, state: join(dir, 'state.db') };
}

function webhookTo(scalerId: string): string {
  return `[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "set_fleet"
from = "trigger.set"
to = "scaler.${scalerId}"
`;
}

/** Polls until live == tracked == desired with no orphan and no duplicate. */
async function converge(fleet: Fleet, d: Daemon, desired: number, began: number): Promise<Figures & { ms: number }> {
  let last = await fleet.figures(d);
  while (Date.now() - began < fleet.convergeMs) {
    last = await fleet.figures(d);
    if (last.live === desired && last.tracked === desired && last.orphans === 0 && last.duplicates === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...last, ms: Date.now() - began };
}

const pause = (maxMs: number) => new Promise((r) => setTimeout(r, Math.floor(Math.random() * (maxMs + 1))));

afterAll(async () => {
  for (const d of daemons) await kill9(d);
  if (process.env.WAYMOND_FAULT_LOGS) for (const d of daemons) console.log(d.logs.join('\n'));
  console.log(summary());
  rmSync(root, { recursive: true, force: true });
});

/** kill -9 at a random moment after each webhook, restart, converge: no orphan, no duplicate. */
async function killRounds(fleet: Fleet, rounds: number): Promise<void> {
  const { config, state } = writeConfig(`kill9-${fleet.kind}`, `${webhookTo(fleet.scalerId)}\n${fleet.toml}`);
  const rows: string[] = [];
  const worst = { orphans: 0, duplicates: 0 };
  const up: number[] = [];
  const down: number[] = [];
  const atKill: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const desired of [fleet.size, 0]) {
        const d = await daemon(config, state, fleet.env);
        await post(d, desired);
        if (fleet.fromFirstMember && desired > 0)
          await waitUntil(async () => (await fleet.live()) > 0, 'a first member', 30_000);
        await pause(fleet.jitterMs);
        await kill9(d);
        atKill.push(await fleet.live());
        const restarted = Date.now();
        const again = await daemon(config, state, fleet.env);
        // A source sends its count again (webhooks are retried, pollers poll).
        await post(again, desired);
        const f = await converge(fleet, again, desired, restarted);
        worst.orphans = Math.max(worst.orphans, f.orphans);
        worst.duplicates = Math.max(worst.duplicates, f.duplicates);
        (desired > 0 ? up : down).push(f.ms);
        rows.push(
          `${fleet.kind} round ${round} desired ${desired}: live ${f.live} tracked ${f.tracked} orphans ${f.orphans} duplicates ${f.duplicates}, ${f.ms} ms`,
        );
        await kill9(again);
        expect(f, rows.at(-1)).toMatchObject({ live: desired, tracked: desired, orphans: 0, duplicates: 0 });
      }
    }
  } finally {
    recordFigures(`kill -9 during scaling: ${fleet.kind} members (fleet ${fleet.size})`, {
      kills: rows.length,
      'live members at the kill (scale-up rounds)': atKill.filter((_, i) => i % 2 === 0).join(' '),
      'orphans after restart (worst)': worst.orphans,
      'duplicate slots (worst)': worst.duplicates,
      'restart to converged, desired up': spread(up),
      'restart to converged, desired 0': spread(down),
    });
    await fleet.cleanup();
  }
}

describe('kill -9 of waymond during scaling', () => {
  it(`process members: ${ROUNDS * 2} kills`, () => killRounds(processFleet(), ROUNDS), ROUNDS * 2 * 60_000);

  it(
    `docker members: ${SLOW_ROUNDS * 2} kills`,
    async () => {
      const fleet = await dockerFleet();
      if (!fleet) return;
      await killRounds(fleet, SLOW_ROUNDS);
    },
    SLOW_ROUNDS * 2 * 120_000,
  );

  it(
    `ssh members: ${SLOW_ROUNDS * 2} kills`,
    async () => {
      const fleet = await sshFleet();
      if (!fleet) return;
      await killRounds(fleet, SLOW_ROUNDS);
    },
    SLOW_ROUNDS * 2 * 120_000,
  );
});

describe('two daemons on one state', () => {
  it('the second exits 1 at once naming the first pid, and touches none of its members', async () => {
    const fleet = processFleet();
    const { config, state } = writeConfig('two-daemons', `${webhookTo(fleet.scalerId)}\n${fleet.toml}`);
    try {
      const first = await daemon(config, state);
      await post(first, 3);
      const ready = await converge(fleet, first, 3, Date.now());
      expect(ready.live).toBe(3);
      const members = pidsWithEnv('WAYMOND_SCALER', fleet.scalerId).sort();
      // Members do not inherit the daemon's secrets (a minimal environment).
      for (const pid of members) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        outputs.push({ where: `environment of member ${pid}`, text: () => environ });
      }
      const began = Date.now();
      // A second `waymond run` on the same state, on another port (the "fight").
      const second = runCli(['run', '-c', config, '--state', state, '--http-port', '0'], SECRET_ENV);
      const exitMs = Date.now() - began;
      outputs.push({ where: 'second daemon', text: () => second.stdout + second.stderr });
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`state ${state} is in use by pid ${first.child.pid}`);
      expect(second.stderr).not.toMatch(/\n\s+at /);
      expect(pidsWithEnv('WAYMOND_SCALER', fleet.scalerId).sort()).toEqual(members);
      const after = await fleet.figures(first);
      expect(after).toMatchObject({ live: 3, tracked: 3, orphans: 0, duplicates: 0 });
      recordFigures('two daemons on one state', {
        'second daemon exit code': String(second.status),
        'second daemon start to exit (includes Node and tsx start)': `${exitMs} ms`,
        'members of the first touched': 0,
        'named error': second.stderr.trim().split('\n')[0] ?? '',
      });
      await kill9(first);
    } finally {
      await fleet.cleanup();
    }
  }, 120_000);
});

describe('store faults', () => {
  it('a corrupt state file is a named error with its path: exit 1, no stack trace, no member started', () => {
    const fleet = processFleet();
    const { config, state } = writeConfig('store-corrupt', `${webhookTo(fleet.scalerId)}\n${fleet.toml}count = 2\n`);
    writeFileSync(state, 'this is not an SQLite database, it is the fault suite'.repeat(100));
    const result = runCli(['run', '-c', config, '--state', state, '--http-port', '0'], SECRET_ENV);
    outputs.push({ where: 'corrupt store', text: () => result.stdout + result.stderr });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(state);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(pidsWithEnv('WAYMOND_SCALER', fleet.scalerId)).toEqual([]);
    recordFigures('store: corrupt state file', {
      'exit code': String(result.status),
      'members started': 0,
      'named error': result.stderr.trim().split('\n')[0] ?? '',
    });
  });

  it('a state file deleted while running is rewritten from memory; a restart adopts, no duplicate', async () => {
    const fleet = processFleet();
    const { config, state } = writeConfig('store-deleted', `${webhookTo(fleet.scalerId)}\n${fleet.toml}`);
    try {
      const d = await daemon(config, state);
      await post(d, 2);
      await converge(fleet, d, 2, Date.now());
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${state}${suffix}`, { force: true });
      const deleted = Date.now();
      await post(d, 3);
      await waitUntil(() => existsSync(state), 'the state file to be written again', 20_000);
      const rewrittenMs = Date.now() - deleted;
      await waitUntil(() => d.logs.some((l) => /was deleted/.test(l)), 'the error naming the deleted file');
      const named = d.logs.find((l) => /was deleted/.test(l)) ?? '';
      expect(named).toContain(state);
      const at3 = await converge(fleet, d, 3, Date.now());
      expect(at3).toMatchObject({ live: 3, orphans: 0, duplicates: 0 });
      await kill9(d);
      const restarted = Date.now();
      const again = await daemon(config, state);
      const f = await converge(fleet, again, 3, restarted);
      expect(f).toMatchObject({ live: 3, tracked: 3, orphans: 0, duplicates: 0 });
      recordFigures('store: state file deleted while running', {
        'deleted to rewritten': `${rewrittenMs} ms`,
        'after kill -9 and restart: live/tracked/orphans/duplicates': `${f.live}/${f.tracked}/${f.orphans}/${f.duplicates}`,
        'named error': (JSON.parse(named) as { msg?: string }).msg ?? named,
      });
      await kill9(again);
    } finally {
      await fleet.cleanup();
    }
  }, 120_000);

  it('a full disk: scaling goes on, the error is logged and counted, the state is written once space is back', async () => {
    const fleet = processFleet();
    const mount = join(root, 'tmpfs');
    mkdirSync(mount, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    } catch (error) {
      if (process.env.CI) throw error;
      console.warn(`skipping the full-disk case: cannot mount a tmpfs here (${(error as Error).message})`);
      return;
    }
    let d: Daemon | undefined;
    try {
      const { config } = writeConfig('store-full', `${webhookTo(fleet.scalerId)}\n${fleet.toml}`);
      const state = join(mount, 'state.db');
      const running = await daemon(config, state);
      d = running;
      await post(running, 2);
      await converge(fleet, running, 2, Date.now());
      // Fill the tmpfs to the last byte.
      const filler = join(mount, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024));
      } catch {
        // ENOSPC: as full as it gets
      }
      const full = Date.now();
      await post(running, 4);
      const f = await converge(fleet, running, 4, full);
      expect(f).toMatchObject({ live: 4, tracked: 4, orphans: 0, duplicates: 0 });
      let errors = 0;
      await waitUntil(async () => {
        const text = await (await api(running, '/metrics')).text();
        errors = Number(/^waymond_store_errors_total (\d+)/m.exec(text)?.[1] ?? 0);
        return errors > 0;
      }, 'waymond_store_errors_total > 0');
      const logged = running.logs.filter((l) => /could not write/.test(l));
      expect(logged.length).toBeGreaterThan(0);
      // Space is back: the next change is written, and a restart sees it.
      rmSync(filler, { force: true });
      await post(running, 1);
      await converge(fleet, running, 1, Date.now());
      await waitUntil(
        () => {
          const out = runSqlite(state, "select value from component_state where key = 'desired'");
          return out.includes('"desired":1');
        },
        'the desired count 1 written to the state file',
        30_000,
      ).catch(() => undefined);
      const written = runSqlite(state, "select value from component_state where key = 'desired'");
      await running.stop();
      recordFigures('store: full disk (tmpfs of 2 MiB)', {
        'scale 2 -> 4 while full, converged': `${f.ms} ms`,
        waymond_store_errors_total: errors,
        'error lines logged (once a minute per kind)': logged.length,
        'desired written once space was back': written.includes('"desired":1') ? 'yes' : `no (${written})`,
      });
      expect(written).toContain('"desired":1');
    } finally {
      if (d) await kill9(d);
      await fleet.cleanup();
      // Members keep their log files (in the state's directory) open until the kernel has reaped them.
      await waitUntil(() => pidsWithEnv('WAYMOND_SCALER', fleet.scalerId).length === 0, 'members gone', 10_000).catch(
        () => undefined,
      );
      unmount(mount);
    }
  }, 120_000);
});

/** Unmounts the test's tmpfs; lazily if something still holds it, so the directory can go. */
function unmount(mount: string): void {
  try {
    execFileSync('umount', [mount], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', mount], { stdio: 'pipe' });
  }
}

/** Reads the state file with node:sqlite in a child process (the daemon holds it open). */
function runSqlite(file: string, sql: string): string {
  const script = `const { DatabaseSync } = require('node:sqlite'); const db = new DatabaseSync(process.argv[1], { readOnly: true }); console.log(db.prepare(process.argv[2]).all().map((r) => r.value).join('\\n'));`;
  try {
    return execFileSync(process.execPath, ['-e', script, file, sql], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    return `(unreadable: ${(error as Error).message.split('\n')[0]})`;
  }
}

describe('source outage', () => {
  it('a Redis that dies: errors name it, the fleet holds its count, and follows again once it is back', async () => {
    const port = 26_000 + (process.pid % 1000);
    const redisDir = join(root, 'redis');
    mkdirSync(redisDir, { recursive: true });
    let redis: ChildProcess | undefined;
    const startRedis = async () => {
      redis = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
        { stdio: 'ignore' },
      );
      redis.stdout?.resume();
      await waitUntil(() => canConnect(port), `redis on ${port}`);
      execFileSync('redis-cli', ['-p', String(port), 'CONFIG', 'SET', 'requirepass', SECRETS.redisPassword]);
    };
    const stopRedis = async () => {
      const r = redis;
      if (!r || r.exitCode !== null) return;
      const gone = new Promise((resolve) => r.once('exit', resolve));
      r.kill('SIGKILL');
      await gone;
    };
    const cli = (...args: string[]) =>
      execFileSync('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', SECRETS.redisPassword, ...args], {
        encoding: 'utf8',
      });
    const fleet = processFleet();
    const { config, state } = writeConfig(
      'outage',
      `[[trigger]]
type = "redis"
id = "queue"
url = "redis://:\${FAULTS_REDIS_PASSWORD}@127.0.0.1:${port}/0"
mode = "list"
key = "jobs"
interval = "300ms"
timeout = "1s"

[[connect]]
type = "direct"
id = "follow"
from = "trigger.queue"
to = "scaler.${fleet.scalerId}"
[connect.transform]
method = "jsonata"
expression = '{ "desired": value }'

${fleet.toml}`,
    );
    try {
      await startRedis();
      cli('RPUSH', 'jobs', 'a', 'b', 'c');
      const d = await daemon(config, state);
      const first = await converge(fleet, d, 3, Date.now());
      expect(first.live).toBe(3);
      await stopRedis();
      const down = Date.now();
      // Many polls fail while it is down: each an error naming the source, never a zero.
      let errors: string[] = [];
      const seen: number[] = [];
      await waitUntil(async () => {
        seen.push((await fleet.figures(d)).live);
        const events = (await (await api(d, '/api/events?limit=200')).json()) as {
          events: { topic: string; time: number; data: { error?: string } }[];
        };
        errors = events.events
          .filter((e) => e.topic === 'trigger.queue.error' && e.time >= down)
          .map((e) => e.data.error ?? '');
        return errors.length >= 5;
      }, 'five failed polls');
      expect(errors[0]).toMatch(/ECONNREFUSED|connect|closed/i);
      expect(errors[0]).toContain(`127.0.0.1:${port}`);
      expect(Math.min(...seen)).toBe(3);
      expect(Math.max(...seen)).toBe(3);
      await startRedis(); // an empty one: it kept nothing
      cli('RPUSH', 'jobs', 'a', 'b', 'c', 'd', 'e');
      const back = Date.now();
      const f = await converge(fleet, d, 5, back);
      expect(f).toMatchObject({ live: 5, tracked: 5, orphans: 0, duplicates: 0 });
      recordFigures('source outage (a Redis of its own, killed and restarted)', {
        'failed polls seen while down': errors.length,
        'fleet while down (min-max, desired 3)': `${Math.min(...seen)}-${Math.max(...seen)}`,
        'named error': errors[0] ?? '',
        'back to following (5 members)': `${f.ms} ms`,
      });
      await kill9(d);
    } finally {
      await stopRedis();
      await fleet.cleanup();
    }
  }, 120_000);
});

describe('hostile bodies and slow clients', () => {
  it('deep JSON, a 1 MB reason, a tap client that never reads, slow headers and a slow body', async () => {
    const { config, state } = writeConfig(
      'hostile',
      `[http]
token_env = "FAULTS_ADMIN_TOKEN"

${hookToNoop(100_000)}`,
    );
    const d = await daemon(config, state);
    const token = SECRETS.adminToken;
    const port = Number(new URL(d.url).port);
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))?.[1]) / 1024;
    // Deep JSON: refused at the door, on hooks and on the API.
    const deep = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const deepHook = await api(d, '/hooks/set', { method: 'POST', body: deep });
    const deepApi = await api(d, '/api/fire/scaler.s', { method: 'POST', body: deep }, token);
    expect(deepHook.status).toBe(400);
    expect(deepApi.status).toBe(400);
    // The scaler still works afterwards.
    await post(d, 2);
    // 1 MB reasons: the decision keeps 1 KiB, the state file does not grow a megabyte per request.
    const stateBytes = () =>
      ['', '-wal'].reduce(
        (sum, suffix) => sum + (existsSync(`${state}${suffix}`) ? statSync(`${state}${suffix}`).size : 0),
        0,
      );
    const sizeBefore = stateBytes();
    for (let i = 0; i < 20; i++) {
      const res = await api(d, '/hooks/set', {
        method: 'POST',
        body: JSON.stringify({ desired: 3 + (i % 2), reason: 'r'.repeat(1_000_000) }),
      });
      expect(res.status).toBeLessThan(300);
    }
    let longest = 0;
    await waitUntil(async () => {
      const { decisions } = (await (await api(d, '/api/decisions?limit=5', {}, token)).json()) as {
        decisions: { reason: string }[];
      };
      longest = Math.max(0, ...decisions.map((x) => x.reason.length));
      return decisions.length > 0 && longest > 1000;
    }, 'decisions with a cut reason');
    expect(longest).toBeLessThan(2048);
    const grewKiB = (stateBytes() - sizeBefore) / 1024;
    // Recent events keep at most 16 KiB of data each, saying what was cut.
    const { events } = (await (await api(d, '/api/events?limit=200', {}, token)).json()) as {
      events: { data: Record<string, unknown> }[];
    };
    const biggestEvent = Math.max(...events.map((e) => Buffer.byteLength(JSON.stringify(e.data))));
    expect(biggestEvent).toBeLessThan(17 * 1024);
    expect(events.some((e) => typeof e.data._truncated === 'string')).toBe(true);
    // A tap client that never reads: dropped, not buffered.
    const rssBefore = rss();
    const tap = connect({ port, host: '127.0.0.1' });
    tap.pause(); // never read, until the flood is over
    const tapClosed = new Promise<void>((resolve) => tap.once('close', () => resolve()));
    tap.on('error', () => undefined);
    await new Promise<void>((resolve) => tap.once('connect', () => resolve()));
    tap.write(`GET /api/tap HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    // 200 hook calls, each putting events carrying 200 kB on the tap: over 40 MB it would have to hold.
    const body = JSON.stringify({ desired: 1, reason: 'x'.repeat(200_000) });
    const posted = 200;
    for (let round = 0; round < posted / 10; round++)
      await Promise.all(Array.from({ length: 10 }, () => fetch(`${d.url}/hooks/set`, { method: 'POST', body })));
    const rssAfter = rss();
    let received = 0;
    tap.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    tap.resume();
    await tapClosed;
    // What was in flight (kernel buffers and the 1 MiB backlog), never the flood.
    expect(received).toBeLessThan(32 * 1024 * 1024);
    // Slow headers and a slow body: the server closes them (headers 10 s, request 30 s).
    const slow = (payload: string) =>
      new Promise<number>((resolve) => {
        const began = Date.now();
        const socket = connect({ port, host: '127.0.0.1' }, () => socket.write(payload));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Date.now() - began));
        socket.resume();
        // Gives up long after the server should have (the assert below then fails).
        setTimeout(() => socket.destroy(), 60_000).unref();
      });
    const [slowHeadersMs, slowBodyMs] = await Promise.all([
      slow('POST /hooks/set HTTP/1.1\r\nHost: x\r\n'),
      slow('POST /hooks/set HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"desi'),
    ]);
    // headersTimeout 10 s, requestTimeout 30 s, checked every second (plus a loaded machine).
    expect(slowHeadersMs).toBeLessThan(20_000);
    expect(slowBodyMs).toBeLessThan(40_000);
    // Still serving.
    expect((await api(d, '/healthz')).status).toBe(200);
    recordFigures('hostile bodies and slow clients', {
      'JSON nested 20,000 deep (hook, API)': `${deepHook.status}, ${deepApi.status}`,
      'longest stored reason after 20 reasons of 1 MB': `${longest} characters`,
      'state file and WAL growth for those 20 requests': `${grewKiB.toFixed(0)} KiB`,
      'largest event data kept in /api/events': `${biggestEvent} bytes`,
      'tap client that never reads': `dropped; it got ${(received / 1024 / 1024).toFixed(1)} MiB of the ${posted} webhooks of 200 kB; daemon RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB`,
      'slow headers closed after': `${slowHeadersMs} ms`,
      'slow body closed after': `${slowBodyMs} ms`,
    });
    await d.stop();
  }, 180_000);
});

describe('file descriptors', () => {
  it('running out is logged once a minute with a clear message and counted', async () => {
    const { config, state } = writeConfig('fds', '[[scaler]]\ntype = "noop"\nid = "s"\n');
    const port = 27_000 + (process.pid % 1000);
    // sh lowers its own limit, then becomes node ("$0") with the rest as arguments.
    const d = spawn(
      'sh',
      [
        '-c',
        'ulimit -n 128; exec "$0" "$@"',
        process.execPath,
        '--import',
        'tsx',
        'src/cli/main.ts',
        'run',
        '-c',
        config,
        '--state',
        state,
        '--http-port',
        String(port),
      ],
      {
        cwd: ROOT,
        env: { ...process.env, ...SECRET_ENV, WAYMOND_LOG_FORMAT: 'json' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const logs: string[] = [];
    d.stdout?.on('data', (c: Buffer) => logs.push(c.toString()));
    d.stderr?.on('data', (c: Buffer) => logs.push(c.toString()));
    outputs.push({ where: 'fd daemon', text: () => logs.join('') });
    const sockets: ReturnType<typeof connect>[] = [];
    try {
      await waitUntil(() => logs.join('').includes('waymond started'), 'the daemon to start', 30_000);
      const began = Date.now();
      for (let i = 0; i < 200; i++) {
        const socket = connect({ port, host: '127.0.0.1' });
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
      await waitUntil(() => logs.join('').includes('out of file descriptors'), 'the log line', 30_000);
      const loggedMs = Date.now() - began;
      const line =
        logs
          .join('')
          .split('\n')
          .find((l) => l.includes('out of file descriptors')) ?? '';
      for (const socket of sockets) socket.destroy();
      let counted = 0;
      await waitUntil(async () => {
        try {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          counted = Number(/^waymond_fd_exhausted_total (\d+)/m.exec(text)?.[1] ?? 0);
          return counted > 0;
        } catch {
          return false;
        }
      }, 'waymond_fd_exhausted_total > 0');
      const lines = logs
        .join('')
        .split('\n')
        .filter((l) => l.includes('out of file descriptors')).length;
      expect(lines).toBe(1);
      recordFigures('file descriptors exhausted (ulimit -n 128, 200 idle connections)', {
        'first connection to the log line': `${loggedMs} ms`,
        'log lines (once a minute)': lines,
        waymond_fd_exhausted_total: counted,
        'named error': (JSON.parse(line) as { msg?: string }).msg ?? line,
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      d.kill('SIGKILL');
      await new Promise((resolve) => (d.exitCode === null ? d.once('exit', resolve) : resolve(undefined)));
    }
  }, 120_000);
});

describe('secrets', () => {
  it('no planted secret appears in any output of the suite', () => {
    const leaks: string[] = [];
    for (const { where, text } of outputs) {
      const content = text();
      for (const [name, secret] of Object.entries(SECRETS))
        if (content.includes(secret)) leaks.push(`${name} in ${where}`);
    }
    recordFigures('secrets grepped in every output', {
      'outputs grepped (daemon logs, CLI output, API answers)': outputs.length,
      'planted secrets': Object.keys(SECRETS).join(', '),
      leaks: leaks.length === 0 ? 0 : leaks.join('; '),
    });
    expect(leaks).toEqual([]);
    expect(outputs.length).toBeGreaterThan(10);
  });
});
