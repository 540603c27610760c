/**
 * The web dashboard: `GET /dashboard` (the page built by `npm run build:web` into
 * dist/web, shipped in the package: nothing is fetched from outside at run time), and the
 * two read-only endpoints the page needs beyond the JSON API:
 *
 * - `GET /api/graph`: the config graph (nodes with their health, edges `from -> to`);
 * - `GET /api/series?scaler=&since=`: one scaler's desired and observed counts over time
 *   (from the stored decisions) with the signals that drove it (the values its upstream
 *   triggers emitted and the counts its connectors asked for, kept in memory since start).
 *
 * Health and signals are read off the bus (`.output`, `.input`, `.result`, `.error`), so
 * nothing in core changes for the dashboard. The same signals go to `/metrics` too
 * (`waymond_trigger_value`, `waymond_policy_recommendation`, `waymond_decisions_total`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Engine } from '../core/engine.js';
import type { WaymondEvent } from '../core/types.js';

/** Points kept per address: an hour of one event a second, bounded for 10,000 scalers. */
const POINTS_PER_ADDRESS = 3600;
/** Decisions read for one chart (the store keeps them newest first). */
const SERIES_DECISIONS = 5000;

export type HealthState = 'ok' | 'failing' | 'dry_run' | 'idle' | 'crash_looping';

export interface Health {
  state: HealthState;
  /** Why it is failing: the message of its last error event. */
  reason?: string;
  /** Time of the event that set the state (ms since the epoch). */
  since?: number;
}

export interface Point {
  time: number;
  value: number;
  source?: string;
}

interface Track {
  lastOk?: number;
  lastError?: { time: number; message: string };
  dryRunAt?: number;
  points: Point[];
}

/** Fields read as a component's number, in order: a trigger's `value`, a request's `desired`. */
const VALUE_FIELDS = ['value', 'desired', 'count', 'depth', 'length', 'size'];

/** The number an event carries (the first of VALUE_FIELDS that is finite), if any. */
export function eventValue(data: Record<string, unknown>): number | undefined {
  for (const field of VALUE_FIELDS) {
    const v = data[field];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return undefined;
}

/** ok, failing (an error newer than the last success), dry run or idle (nothing seen yet). */
export function healthOf(track: Track | undefined): Health {
  if (!track) return { state: 'idle' };
  const error = track.lastError;
  if (error && error.time >= (track.lastOk ?? 0)) return { state: 'failing', reason: error.message, since: error.time };
  if (track.dryRunAt !== undefined && track.dryRunAt >= (track.lastOk ?? 0))
    return { state: 'dry_run', since: track.dryRunAt };
  if (track.lastOk !== undefined) return { state: 'ok', since: track.lastOk };
  return { state: 'idle' };
}

function errorText(data: Record<string, unknown>): string {
  const e = data.error;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string')
    return (e as { message: string }).message;
  return 'error';
}

/** What the dashboard remembers from the bus: each component's health and numbers. */
export class DashboardLog {
  private tracks = new Map<string, Track>();

  track(address: string): Track {
    let t = this.tracks.get(address);
    if (!t) {
      t = { points: [] };
      this.tracks.set(address, t);
    }
    return t;
  }

  health(address: string): Health {
    return healthOf(this.tracks.get(address));
  }

  points(address: string, since: number): Point[] {
    return (this.tracks.get(address)?.points ?? []).filter((p) => p.time >= since);
  }

  observe(event: WaymondEvent): void {
    const dot = event.topic.lastIndexOf('.');
    const address = event.topic.slice(0, dot);
    const channel = event.topic.slice(dot + 1);
    if (channel === 'error') {
      this.track(address).lastError = { time: event.time, message: errorText(event.data) };
    } else if (channel === 'output') {
      const t = this.track(address);
      t.lastOk = event.time;
      this.addPoint(t, event, address);
    } else if (channel === 'input' && address.startsWith('scaler.')) {
      this.addPoint(this.track(address), event, event.source);
    } else if (channel === 'result') {
      const t = this.track(address);
      const outcome = event.data.outcome;
      if (outcome === 'ok') t.lastOk = event.time;
      else if (outcome === 'dry_run') t.dryRunAt = event.time;
      else if (outcome === 'error' || outcome === 'rejected')
        t.lastError = { time: event.time, message: errorText(event.data) };
    }
  }

  private addPoint(t: Track, event: WaymondEvent, source: string): void {
    const value = eventValue(event.data);
    if (value === undefined) return;
    t.points.push({ time: event.time, value, source });
    if (t.points.length > POINTS_PER_ADDRESS * 1.25) t.points.splice(0, t.points.length - POINTS_PER_ADDRESS);
  }
}

export interface GraphNode {
  address: string;
  kind: string;
  type: string;
  health: Health;
}

/** Triggers and connectors upstream of `address` (walking edges backwards). */
export function upstream(address: string, edges: [string, string][]): string[] {
  const seen = new Set<string>();
  const queue = [address];
  while (queue.length > 0) {
    const at = queue.shift() as string;
    for (const [from, to] of edges) {
      if (to === at && !seen.has(from)) {
        seen.add(from);
        queue.push(from);
      }
    }
  }
  return [...seen];
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** dist/web next to dist/server (the package), or from src/server under tsx (a checkout). */
export function defaultAssetsDir(): string {
  const candidates = [
    fileURLToPath(new URL('../web/', import.meta.url)),
    fileURLToPath(new URL('../../dist/web/', import.meta.url)),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? (candidates[1] as string);
}

/** The first word of a decision's action (`scale_up +3 (0 -> 3)` -> `scale_up`): a bounded label. */
export function actionKind(action: unknown): string {
  return (typeof action === 'string' ? /^[a-z_]+/.exec(action)?.[0] : undefined) ?? 'other';
}

/**
 * The signals behind the fleets, on the engine's registry: the last value each trigger
 * emitted, the last count each policy connector recommended, decisions by action.
 */
/** Registers the signal metrics on `registry` (also how the reference lists them). */
export function registerSignalMetrics(registry: Registry) {
  const registers = [registry];
  return {
    triggerValue: new Gauge({
      name: 'waymond_trigger_value',
      help: 'Last value a trigger emitted (its `value` field, or `desired`, `count`, `depth`, `length`, `size`).',
      labelNames: ['trigger'],
      registers,
    }),
    recommendation: new Gauge({
      name: 'waymond_policy_recommendation',
      help: 'Last desired count a policy connector recommended (before the scaler applies min/max).',
      labelNames: ['connector'],
      registers,
    }),
    decisions: new Counter({
      name: 'waymond_decisions_total',
      help: 'Recorded decisions per scaler and action (scale_up, scale_down, none, ...).',
      labelNames: ['scaler', 'action'],
      registers,
    }),
  };
}

export function exportSignalMetrics(engine: Engine, registry: Registry): () => void {
  // Once per registry: a second mount (tests) must not register the names twice.
  if (registry.getSingleMetric('waymond_trigger_value')) return () => undefined;
  const { triggerValue, recommendation, decisions } = registerSignalMetrics(registry);
  const policies = new Set(engine.graph.connectors.filter((c) => c.definition.type === 'policy').map((c) => c.address));
  return engine.bus.subscribeAll((event) => {
    const dot = event.topic.lastIndexOf('.');
    const address = event.topic.slice(0, dot);
    const channel = event.topic.slice(dot + 1);
    if (channel === 'output' && address.startsWith('trigger.')) {
      const value = eventValue(event.data);
      if (value !== undefined) triggerValue.set({ trigger: address }, value);
    } else if (channel === 'output' && policies.has(address)) {
      const desired = event.data.desired;
      if (typeof desired === 'number' && Number.isFinite(desired)) recommendation.set({ connector: address }, desired);
    } else if (channel === 'result' && address.startsWith('scaler.')) {
      decisions.inc({ scaler: address, action: actionKind(event.data.action) });
    }
  });
}

export function mountDashboard(
  app: FastifyInstance,
  engine: Engine,
  options: { registry: Registry; assetsDir?: string },
): void {
  const assets = normalize(options.assetsDir ?? defaultAssetsDir());
  const log = new DashboardLog();
  const off = engine.bus.subscribeAll((event) => log.observe(event));
  const offMetrics = exportSignalMetrics(engine, options.registry);
  app.addHook('onClose', async () => {
    off();
    offMetrics();
  });
  // Seed from the events the engine already holds (the log starts after them).
  for (const event of engine.recentEvents(200)) log.observe(event);

  const edges = () => engine.graph.edges;

  const sendIndex = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const file = join(assets, 'index.html');
    if (!existsSync(file))
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(`the dashboard is not built: run \`npm run build:web\` (looked in ${assets})\n`);
    // The page names its hashed assets: it must never be cached past a new build.
    return reply
      .header('cache-control', 'no-cache')
      .type(CONTENT_TYPES['.html'] as string)
      .send(readFileSync(file));
  };
  app.get('/dashboard', sendIndex);
  app.get('/dashboard/', sendIndex);
  app.get<{ Params: { '*': string } }>('/dashboard/assets/*', async (req, reply) => {
    const file = normalize(join(assets, 'assets', req.params['*']));
    if (!file.startsWith(join(assets, 'assets') + sep) || !existsSync(file))
      return reply.code(404).send({ error: `no dashboard asset ${req.params['*']}` });
    // File names carry a content hash: a new build gets new names, so cache for a year.
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    return reply.type(CONTENT_TYPES[extname(file)] ?? 'application/octet-stream').send(readFileSync(file));
  });

  /** A scaler that says it is crash looping shows that (with its reason) over what the bus says. */
  const nodeHealth = (address: string): Health => {
    const status = engine.scalerStatus(address);
    if (status && status.health !== 'ok')
      return { state: status.health, ...(status.reason !== undefined ? { reason: status.reason } : {}) };
    return log.health(address);
  };
  app.get('/api/graph', async () => {
    const nodes: GraphNode[] = engine.graph.components.map((c) => ({
      address: c.address,
      kind: c.kind,
      type: c.definition.type,
      health: nodeHealth(c.address),
    }));
    return { nodes, edges: edges().map(([from, to]) => ({ from, to })) };
  });

  app.get<{ Querystring: { scaler?: string; since?: string } }>('/api/series', async (req, reply) => {
    const raw = req.query.scaler ?? '';
    const scaler = raw.includes('.') ? raw : `scaler.${raw}`;
    if (!engine.graph.scalers.some((c) => c.address === scaler))
      return reply.code(404).send({ error: `scaler: no scaler at "${raw}"` });
    const since = req.query.since === undefined ? engine.clock.now() - 3600_000 : Number(req.query.since);
    if (!Number.isFinite(since))
      return reply.code(400).send({ error: `since: expected milliseconds since the epoch, found ${req.query.since}` });
    const decisions = (await engine.store.listDecisions({ scaler, limit: SERIES_DECISIONS }))
      .filter((d) => d.time >= since)
      .reverse()
      .map((d) => ({ time: d.time, observed: d.observed, desired: d.desired, outcome: d.outcome }));
    const signals: Record<string, Point[]> = {};
    for (const address of upstream(scaler, edges()).filter((a) => a.startsWith('trigger.'))) {
      const points = log.points(address, since);
      if (points.length > 0) signals[address] = points;
    }
    return { scaler, since, decisions, requested: log.points(scaler, since), signals };
  });
}
