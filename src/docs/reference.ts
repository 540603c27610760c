/**
 * The component reference, generated from the zod schemas (the single source of truth).
 * `npm run docs` writes docs/reference.md; a test fails when that file is stale.
 */
import { z } from 'zod';
import { clusterSchema } from '../cluster/config.js';
import { daemonSchema, hooksSchema, storeSchema } from '../config/load.js';
import { formatDuration } from '../core/duration.js';
import type { ComponentDefinition, ComponentKind } from '../core/types.js';
import type { Registry } from '../registry.js';
import { registerSignalMetrics } from '../server/dashboard.js';
import { Metrics } from '../server/metrics.js';
import { mergeBranches } from './switch-table.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  minimum?: number;
  maximum?: number;
  format?: string;
  waymondType?: string;
}

function typeOf(s: JsonSchema): string {
  if (s.waymondType === 'duration') return 'duration';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const variants = s.anyOf ?? s.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' \\| ');
  if (s.type === 'array') return `array of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object') return s.properties ? 'table' : 'map';
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  if (s.type === 'integer') return 'integer';
  return s.type ?? 'any';
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}

interface ZodInternals {
  _zod?: {
    def: { type: string; innerType?: unknown; in?: unknown; shape?: Record<string, unknown>; defaultValue?: unknown };
  };
}

interface ZodUnionDef {
  type: string;
  options?: unknown[];
}

/** Top-level defaults read from the zod schema itself: a duration's default is stored in ms, shown as "15s". */
export function outputDefaults(schema: unknown): Record<string, string> {
  let current = schema as ZodInternals;
  for (let i = 0; i < 10 && current._zod?.def.type !== 'object'; i++) {
    const def = current._zod?.def as (ZodInternals['_zod'] & object)['def'] & ZodUnionDef;
    // A schema that switches on a field (redis `mode`): every branch's defaults, first one wins.
    if (def?.type === 'union' && def.options) {
      return Object.assign({}, ...def.options.map(outputDefaults).reverse());
    }
    const next = def?.innerType ?? def?.in;
    if (!next) break;
    current = next as ZodInternals;
  }
  const out: Record<string, string> = {};
  for (const [name, field] of Object.entries(current._zod?.def.shape ?? {})) {
    const def = (field as ZodInternals)._zod?.def;
    if (def?.type !== 'default') continue;
    const value = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
    const isDuration = JSON.stringify(componentFieldSchema(def.innerType)).includes('"waymondType":"duration"');
    out[name] = isDuration && typeof value === 'number' ? JSON.stringify(formatDuration(value)) : JSON.stringify(value);
  }
  return out;
}

function componentFieldSchema(field: unknown): unknown {
  try {
    return z.toJSONSchema(field as z.ZodType, { io: 'input', unrepresentable: 'any' });
  } catch {
    return {};
  }
}

function fieldRows(schema: JsonSchema, prefix = '', defaults: Record<string, string> = {}): string[] {
  const rows: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    if (!prefix && (name === 'type' || name === 'id')) continue;
    const path = `${prefix}${name}`;
    const known = field.default === undefined ? defaults[name] : JSON.stringify(field.default);
    const def = known === undefined ? (required.has(name) ? 'required' : '') : `\`${known}\``;
    rows.push(`| \`${path}\` | ${cell(typeOf(field))} | ${def} | ${cell(field.description ?? '')} |`);
    const item = field.type === 'array' ? field.items : field;
    if (item?.type === 'object' && item.properties)
      rows.push(...fieldRows(item, `${path}${field.type === 'array' ? '[]' : ''}.`));
  }
  return rows;
}

export function componentJsonSchema(def: ComponentDefinition): JsonSchema {
  return z.toJSONSchema(def.schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

const KIND_TITLES: Record<ComponentKind, string> = { trigger: 'Triggers', connector: 'Connectors', scaler: 'Scalers' };
const SECTION: Record<ComponentKind, string> = { trigger: 'trigger', connector: 'connect', scaler: 'scaler' };

export function renderReference(registry: Registry): string {
  const out: string[] = [
    '# Component reference',
    '',
    '<!-- Generated from the config schemas by `npm run docs`. Do not edit by hand: a test fails when this file is stale. -->',
    '',
    'Every component is a table in the config file: `[[trigger]]`, `[[connect]]` or `[[scaler]]`, with a `type` and an `id`.',
    'Durations are written like `"15s"`, `"1m30s"` or `"250ms"` (a bare number means seconds).',
    '',
  ];
  for (const kind of ['trigger', 'connector', 'scaler'] as ComponentKind[]) {
    out.push(`## ${KIND_TITLES[kind]}`, '');
    for (const def of registry.all(kind))
      out.push(`- [\`${def.type}\`](#${kind}-${def.type.replace(/_/g, '-')}): ${def.summary}`);
    out.push('');
    for (const def of registry.all(kind)) {
      out.push(`### ${kind} \`${def.type}\``, '', def.summary, '');
      if (kind === 'trigger')
        out.push(def.acceptsInput ? 'Accepts input: a connector may fire it.' : 'Takes no input.', '');
      const rows = fieldRows(mergeBranches(componentJsonSchema(def)), '', outputDefaults(def.schema));
      if (rows.length > 0)
        out.push('| field | type | default | description |', '| --- | --- | --- | --- |', ...rows, '');
      out.push('Example:', '', '```toml', def.example.trim(), '```', '');
    }
  }
  out.push(...daemonSections(), ...metricsSection());
  out.push(`<!-- sections: ${Object.values(SECTION).join(', ')} -->`, '');
  return out.join('\n');
}

/** The daemon's own tables, `[http]`, `[hooks]` and `[store]`, from their schemas. */
function daemonSections(): string[] {
  const out = ['## Daemon settings', ''];
  for (const [name, schema, what] of [
    [
      'http',
      daemonSchema,
      'The admin HTTP listener: health, readiness, metrics, the admin API, the dashboard, and the webhooks unless `[hooks]` is set. `/readyz` answers 503 with `{ status: "not ready", failing: [{ address, reason }] }` while a trigger could not start or cannot work (a secret variable unset), or a scaler or polling trigger is failing with a permanent error (401/403, not found, validation: retried once per resync interval, `health = "failing"` in `/api/components`), 200 otherwise.',
    ],
    [
      'hooks',
      hooksSchema,
      'Optional: a separate, public listener for webhooks only (`/hooks/*` and `/healthz`). When absent, webhooks are served on the `[http]` listener. It needs no admin token (each hook checks its own); `[http]` can then stay on loopback.',
    ],
    ['store', storeSchema, 'Where decisions and component state are kept.'],
    [
      'cluster',
      clusterSchema,
      'Optional: several instances on one config, each scaler owned by one live instance at a time (leases with fencing on PostgreSQL or etcd; see docs/ha.md). Scalers whose members live on the instance\'s own host (`process`, `systemd`) are `placement = "local"` by default: each instance runs its own and no lease covers them.',
    ],
  ] as const) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    out.push(
      `### \`[${name}]\``,
      '',
      what,
      '',
      '| field | type | default | description |',
      '| --- | --- | --- | --- |',
    );
    out.push(...fieldRows(json, '', outputDefaults(schema)), '');
  }
  return out;
}

/** Every metric a running daemon exports on /metrics (process metrics aside), from the metrics themselves. */
function metricsSection(): string[] {
  const metrics = new Metrics();
  registerSignalMetrics(metrics.registry);
  const rows = metrics.registry
    .getMetricsAsArray()
    .map((m) => {
      const { name, help, labelNames } = m as unknown as { name: string; help: string; labelNames?: string[] };
      const type = (m as unknown as { type?: string }).type ?? '';
      return `| \`${name}\` | ${type} | ${(labelNames ?? []).map((l) => `\`${l}\``).join(', ')} | ${cell(help)} |`;
    })
    .sort();
  return [
    '## Metrics',
    '',
    "Served on `/metrics` (Prometheus text format), besides Node's process metrics (`waymond_process_*`, `waymond_nodejs_*`).",
    '',
    '| metric | type | labels | description |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ];
}
