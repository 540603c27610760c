/**
 * Fault test through the real CLI: `waymond run` with a process scaler of `sleep` members
 * is killed with SIGKILL at random moments 0-100 ms after a webhook asks for 20 members
 * (scale-up) or for 0 (scale-down), then started again on the same state. After each
 * restart it must converge to exactly the desired count of live members carrying our
 * markers, with no orphan (a live marked process the daemon does not track) and no two
 * members on one WAYMOND_INDEX. Convergence times, orphans and duplicates are printed as
 * figures (docs/reliability.md records them); only correctness is asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';

const ROUNDS = Number(process.env.WAYMOND_FAULT_ROUNDS ?? 20);
const FLEET = 20;
const SCALER = `faults_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'waymond-faults-'));
const config = join(dir, 'waymond.toml');
const state = join(dir, 'state.db');
let daemon: Daemon | undefined;

writeFileSync(
  config,
  `[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "set_fleet"
from = "trigger.set"
to = "scaler.${SCALER}"

[[scaler]]
type = "process"
id = "${SCALER}"
command = "sleep"
args = ["600"]
max = ${FLEET}
stop_timeout = "2s"
resync_interval = "1s"
on_shutdown = "keep"
`,
);

const start = async () => {
  daemon = await startDaemon(['-c', config, '--state', state]);
  return daemon;
};

async function kill9(d: Daemon): Promise<void> {
  d.child.kill('SIGKILL');
  await d.exited;
  daemon = undefined;
}

async function post(d: Daemon, desired: number): Promise<void> {
  const res = await fetch(`${d.url}/hooks/set`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ desired, reason: 'fault test' }),
  });
  if (!res.ok) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
}

interface Figures {
  live: number;
  tracked: number;
  orphans: number;
  duplicates: number;
}

/** Live marked members against what the daemon tracks. */
async function figures(d: Daemon): Promise<Figures> {
  const live = pidsWithEnv('WAYMOND_SCALER', SCALER);
  const res = await fetch(`${d.url}/api/components`);
  const { components } = (await res.json()) as {
    components: { address: string; members?: { state: string; info?: { pid?: number } }[] }[];
  };
  const scaler = components.find((c) => c.address === `scaler.${SCALER}`);
  const tracked = new Set((scaler?.members ?? []).map((m) => m.info?.pid));
  const counted = (scaler?.members ?? []).filter((m) => m.state !== 'stopping').length;
  const indexes = live.map((pid) => indexOf(pid)).filter((i) => i !== undefined);
  return {
    live: live.length,
    tracked: counted,
    orphans: live.filter((pid) => !tracked.has(pid)).length,
    duplicates: indexes.length - new Set(indexes).size,
  };
}

function indexOf(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.find((e) => e.startsWith('WAYMOND_INDEX='));
  } catch {
    return undefined;
  }
}

/** Polls until live == tracked == desired with no orphan; returns the last figures and the ms since `began`. */
async function converge(
  d: Daemon,
  desired: number,
  began: number,
  timeoutMs = 30_000,
): Promise<Figures & { ms: number }> {
  let last = await figures(d);
  while (Date.now() - began < timeoutMs) {
    last = await figures(d);
    if (last.live === desired && last.tracked === desired && last.orphans === 0 && last.duplicates === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...last, ms: Date.now() - began };
}

const jitter = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 101)));

afterAll(async () => {
  if (daemon) await kill9(daemon);
  killAll(pidsWithEnv('WAYMOND_SCALER', SCALER));
  rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 of waymond during scaling (process members)', () => {
  it(
    `${ROUNDS} kills during 0 -> ${FLEET} and ${ROUNDS} during ${FLEET} -> 0: no orphan, no duplicate slot`,
    async () => {
      const rows: string[] = [];
      const worst = { orphans: 0, duplicates: 0 };
      for (let round = 1; round <= ROUNDS; round++) {
        for (const desired of [FLEET, 0]) {
          const d = await start();
          await post(d, desired);
          await jitter();
          await kill9(d);
          const atKill = pidsWithEnv('WAYMOND_SCALER', SCALER).length;
          const restarted = Date.now();
          const again = await start();
          // A source sends its count again (webhooks are retried, pollers poll).
          await post(again, desired);
          const f = await converge(again, desired, restarted);
          worst.orphans = Math.max(worst.orphans, f.orphans);
          worst.duplicates = Math.max(worst.duplicates, f.duplicates);
          rows.push(
            `round ${String(round).padStart(2)} desired ${String(desired).padStart(2)}: live at kill ${String(atKill).padStart(2)}, after restart live ${f.live} tracked ${f.tracked} orphans ${f.orphans} duplicates ${f.duplicates}, converged ${f.ms} ms after the restart began`,
          );
          await kill9(again);
          expect(f, rows.at(-1)).toMatchObject({ live: desired, tracked: desired, orphans: 0, duplicates: 0 });
        }
      }
      console.log(
        `kill -9 fault test (${ROUNDS * 2} kills):\n${rows.join('\n')}\nworst: orphans ${worst.orphans}, duplicates ${worst.duplicates}`,
      );
    },
    ROUNDS * 2 * 60_000,
  );
});
