/**
 * Steady-signal soak (issue 15): 1,000 noop scalers, each asked every second for the count
 * it already has, through the real daemon on a real SQLite file. Every 15 s it prints the
 * file's bytes (database and WAL), the rows and folded repeats, and the CPU share; at the
 * end the growth in bytes/s and rows/s after a 30 s warm-up (target 0) and the CPU against a
 * floor: the same feed on the in-memory store (no I/O at all).
 *
 *   npx tsx bench/store-soak.bench.ts            # 180 s soak + 30 s floor
 *   SOAK_SECONDS=60 SOAK_SCALERS=200 npx tsx bench/store-soak.bench.ts
 *   SOAK_STORE=postgres npx tsx bench/store-soak.bench.ts   # the same on PostgreSQL (127.0.0.1:5432, db test,
 *                                                            # a schema of its own, dropped after): table bytes
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { RealClock } from '../src/core/clock.js';
import { createDaemon } from '../src/daemon.js';
import { defaultRegistry } from '../src/registry.js';
import { MemoryStore } from '../src/sim/memory-store.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const SCALERS = Number(process.env.SOAK_SCALERS ?? 1000);
const FLOOR_SECONDS = Number(process.env.SOAK_FLOOR_SECONDS ?? 30);
const WARMUP_SECONDS = 30;
const SAMPLE_SECONDS = 15;
const STORE = process.env.SOAK_STORE === 'postgres' ? 'postgres' : 'sqlite';
const PG_URL = process.env.SOAK_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_SCHEMA = `waymond_soak_${process.pid}`;

const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');

function config(dir: string, store: 'sqlite' | 'postgres' | 'memory') {
  const parts: string[] = store === 'postgres' ? [`[store]\nurl = "${PG_URL}"\nschema = "${PG_SCHEMA}"\n`] : [];
  for (let i = 0; i < SCALERS; i++) parts.push(`[[scaler]]\ntype = "noop"\nid = "s${i}"\nmax = 10\n`);
  const result = loadConfigText(parts.join('\n'), join(dir, 'waymond.toml'), defaultRegistry(), {});
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config;
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

interface Sample {
  t: number;
  db: number;
  wal: number;
  rows: number;
  repeats: number;
  cpu: number;
}

/** Feeds every scaler its unchanged count once a second for `seconds`; samples along the way. */
async function soak(
  seconds: number,
  store: 'sqlite' | 'postgres' | 'memory',
  dir: string,
  onSample: (s: Sample) => void,
): Promise<number> {
  const path = join(dir, 'state.db');
  const daemon = createDaemon(config(dir, store), {
    logger: pino({ level: 'silent' }),
    clock: new RealClock(),
    http: false,
    ...(store === 'sqlite' ? { statePath: path } : store === 'memory' ? { store: new MemoryStore() } : {}),
  });
  const { engine } = daemon;
  await engine.start();
  const reader = store === 'sqlite' ? new DatabaseSync(path, { readOnly: true }) : undefined;
  const admin = store === 'postgres' ? new pg.Pool({ connectionString: PG_URL, max: 1 }) : undefined;
  const feed = () => {
    for (let i = 0; i < SCALERS; i++) engine.scaler(`scaler.s${i}`)?.request(3, { queue: 'steady' });
  };
  feed();
  const timer = setInterval(feed, 1000);
  const started = performance.now();
  let cpuAt = process.cpuUsage();
  let wallAt = performance.now();
  let cpuTotal = 0;
  let cpuSeconds = 0;
  while ((performance.now() - started) / 1000 < seconds) {
    await new Promise((r) => setTimeout(r, SAMPLE_SECONDS * 1000));
    const cpu = process.cpuUsage(cpuAt);
    const wall = (performance.now() - wallAt) / 1000;
    cpuAt = process.cpuUsage();
    wallAt = performance.now();
    const share = (cpu.user + cpu.system) / 1e6 / wall;
    const t = (performance.now() - started) / 1000;
    if (t > WARMUP_SECONDS) {
      cpuTotal += share * wall;
      cpuSeconds += wall;
    }
    const countSql = (table: string) => `SELECT count(*) AS rows, coalesce(sum(repeats), 0) AS repeats FROM ${table}`;
    const counts = admin
      ? ((await admin.query(countSql(`"${PG_SCHEMA}".decisions`))).rows[0] as { rows: string; repeats: string })
      : (reader?.prepare(countSql('decisions')).get() as { rows: number; repeats: number } | undefined);
    // PostgreSQL: the tables' bytes with their indexes and TOAST (dead row versions until vacuum included).
    const tableBytes = admin
      ? Number(
          (
            await admin.query(
              `SELECT pg_total_relation_size('"${PG_SCHEMA}".decisions') + pg_total_relation_size('"${PG_SCHEMA}".component_state') AS n`,
            )
          ).rows[0]?.n ?? 0,
        )
      : 0;
    onSample({
      t,
      db: admin ? tableBytes : fileBytes(path),
      wal: admin ? 0 : fileBytes(`${path}-wal`),
      rows: Number(counts?.rows ?? 0),
      repeats: Number(counts?.repeats ?? 0),
      cpu: share,
    });
  }
  clearInterval(timer);
  reader?.close();
  await daemon.stop();
  if (admin) {
    await admin.query(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`);
    await admin.end();
  }
  return cpuSeconds > 0 ? cpuTotal / cpuSeconds : 0;
}

const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (shared machine: figures are noisy)`,
);
console.log(
  `steady signal: ${SCALERS} noop scalers, each asked for its unchanged count every 1 s, ${SECONDS} s on ${STORE === 'postgres' ? 'PostgreSQL (table bytes; no WAL column)' : 'SQLite'}`,
);
const dir = mkdtempSync(join(tmpdir(), 'waymond-soak-'));
const samples: Sample[] = [];
try {
  const cpu = await soak(SECONDS, STORE, dir, (s) => {
    samples.push(s);
    console.log(
      `  t=${s.t.toFixed(0).padStart(4)} s  db ${mib(s.db)}  wal ${mib(s.wal)}  rows ${s.rows}  repeats ${s.repeats}  CPU ${(s.cpu * 100).toFixed(1)}%`,
    );
  });
  const after = samples.filter((s) => s.t > WARMUP_SECONDS);
  const first = after[0];
  const last = after.at(-1);
  if (first && last && last.t > first.t) {
    const span = last.t - first.t;
    const bytes = (last.db + last.wal - first.db - first.wal) / span;
    const dbBytes = (last.db - first.db) / span;
    const rows = (last.rows - first.rows) / span;
    console.log(
      `growth after ${WARMUP_SECONDS} s (over ${span.toFixed(0)} s): database ${dbBytes.toFixed(0)} B/s, database + WAL ${bytes.toFixed(0)} B/s (target 0), rows ${rows.toFixed(2)}/s (target 0); decisions folded: ${last.repeats.toLocaleString('en')}`,
    );
  }
  const floorDir = mkdtempSync(join(tmpdir(), 'waymond-soak-floor-'));
  let floor = 0;
  try {
    floor = await soak(FLOOR_SECONDS + WARMUP_SECONDS, 'memory', floorDir, () => {});
  } finally {
    rmSync(floorDir, { recursive: true, force: true });
  }
  console.log(
    `CPU after warm-up: ${STORE === 'postgres' ? 'PostgreSQL' : 'SQLite'} store (waymond's process only) ${(cpu * 100).toFixed(1)}% of one core; floor (same feed, in-memory store) ${(floor * 100).toFixed(1)}%; ratio ${(cpu / Math.max(floor, 1e-9)).toFixed(2)}`,
  );
  const cpus_ = after.map((s) => s.cpu);
  if (cpus_.length >= 2) {
    const half = Math.floor(cpus_.length / 2);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `CPU flat? first half ${(mean(cpus_.slice(0, half)) * 100).toFixed(1)}%, second half ${(mean(cpus_.slice(half)) * 100).toFixed(1)}%`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
