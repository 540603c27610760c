/**
 * Loading a config file, in layers (as Vector's validate does): syntax, environment,
 * schema per component, then the graph. Every problem of a file is collected and reported
 * at once; nothing starts unless there are no errors.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { clusterProblems, clusterSchema } from '../cluster/config.js';
import { checkGraph } from '../core/graph.js';
import { redactSecrets } from '../core/redact.js';
import type { ComponentDefinition, ComponentKind } from '../core/types.js';
import type { Registry } from '../registry.js';
import { interpolateEnv } from './interpolate.js';
import { type ConfigIssue, describeFound, didYouMean, zodIssueMessages } from './issues.js';

export const SECTIONS: Record<string, ComponentKind> = { trigger: 'trigger', connect: 'connector', scaler: 'scaler' };

/** HTTPS for a listener: both files or neither (PEM, read at start). */
const tlsFields = {
  tls_cert_file: z
    .string()
    .optional()
    .describe(
      'PEM certificate (chain) file: with `tls_key_file`, the listener speaks HTTPS. Relative to the config file.',
    ),
  tls_key_file: z
    .string()
    .optional()
    .describe('PEM private key file for `tls_cert_file`. Relative to the config file.'),
};

function bothOrNeither(value: { tls_cert_file?: string; tls_key_file?: string }, ctx: z.RefinementCtx): void {
  if ((value.tls_cert_file === undefined) === (value.tls_key_file === undefined)) return;
  const missing = value.tls_cert_file === undefined ? 'tls_cert_file' : 'tls_key_file';
  ctx.addIssue({
    code: 'custom',
    path: [missing],
    message: 'tls_cert_file and tls_key_file go together: set both, or neither',
  });
}

export const daemonSchema = z
  .strictObject({
    host: z.string().default('127.0.0.1').describe('Address the HTTP server listens on.'),
    port: z.number().int().min(0).max(65535).default(9460).describe('Port of the HTTP server (0 picks a free one).'),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional()
      .describe(
        "Name of the environment variable holding the admin token. When set, every `/api/*` route (reads too, the dashboard's data included) needs `Authorization: Bearer <token>`; `/healthz`, `/readyz`, `/metrics`, `/hooks/*` and the dashboard page stay open. Required when `host` is not a loopback address.",
      ),
    ...tlsFields,
  })
  .superRefine(bothOrNeither);

/** The public webhook listener: `/hooks/*` and `/healthz`, nothing else. */
export const hooksSchema = z
  .strictObject({
    host: z
      .string()
      .default('0.0.0.0')
      .describe('Address the webhook listener listens on (public: hooks carry their own tokens).'),
    port: z.number().int().min(0).max(65535).describe('Port of the webhook listener (0 picks a free one).'),
    ...tlsFields,
  })
  .superRefine(bothOrNeither);

export const storeSchema = z
  .strictObject({
    path: z
      .string()
      .optional()
      .describe('SQLite file for decisions and state (default `<config dir>/.waymond/state.db`). SQLite only.'),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
      .optional()
      .describe(
        'PostgreSQL to keep decisions and state in instead of SQLite, e.g. `postgres://waymond@db.internal/waymond`; only for URLs without a password. Exactly one of `url` and `dsn_env`, or neither (SQLite).',
      ),
    dsn_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
      .optional()
      .describe('Name of the environment variable holding the PostgreSQL URL (use this when it carries a password).'),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case identifier (a-z, 0-9, _)')
      .optional()
      .describe(
        "PostgreSQL schema holding waymond's tables (default `public`); created, and migrated, at start. PostgreSQL only.",
      ),
    retention: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Decisions kept per scaler (a run of identical decisions is one, with its repeat count).'),
    retention_bytes: z
      .number()
      .int()
      .min(65_536)
      .default(268_435_456)
      .describe(
        'Bound of the bytes decisions take in the SQLite file (pages in use; checked every 5 s): past it, the oldest decisions of all scalers are removed. SQLite only: on PostgreSQL the per-scaler `retention` bounds the table.',
      ),
  })
  .superRefine((value, ctx) => {
    if (value.url !== undefined && value.dsn_env !== undefined)
      ctx.addIssue({ code: 'custom', path: ['dsn_env'], message: 'expected one of `url` and `dsn_env`, not both' });
    if (value.url !== undefined && urlPassword(value.url))
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'this URL carries a password; put it in an environment variable and name it in `dsn_env`',
      });
    const server = value.url ?? value.dsn_env;
    if (server !== undefined && value.path !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['path'],
        message: 'is the SQLite file: not used with `url`/`dsn_env` (PostgreSQL)',
      });
    if (server === undefined && value.schema !== undefined)
      ctx.addIssue({ code: 'custom', path: ['schema'], message: 'is for PostgreSQL: set `url` or `dsn_env` too' });
  });

function urlPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

export interface ComponentConfig {
  kind: ComponentKind;
  type: string;
  id: string;
  address: string;
  /** Position in its section, for messages about components whose id is bad. */
  index: number;
  definition: ComponentDefinition;
  /** Parsed (validated, defaults applied) config. */
  config: Record<string, unknown> & { id: string; type: string };
}

export interface LoadedConfig {
  file: string;
  http: z.output<typeof daemonSchema>;
  /** Absent: webhooks are served on the [http] listener. */
  hooks?: z.output<typeof hooksSchema>;
  store: z.output<typeof storeSchema>;
  /** Absent: one instance owns everything. */
  cluster?: z.output<typeof clusterSchema>;
  components: ComponentConfig[];
  warnings: ConfigIssue[];
}

export type LoadResult = { ok: true; config: LoadedConfig } | { ok: false; issues: ConfigIssue[] };

type Format = 'toml' | 'yaml' | 'json';

export function formatOf(file: string): Format {
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.json') return 'json';
  return 'toml';
}

export function loadConfigFile(file: string, registry: Registry, env: NodeJS.ProcessEnv = process.env): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return {
      ok: false,
      issues: [{ severity: 'error', file, message: `cannot read the file: ${(error as Error).message}` }],
    };
  }
  return loadConfigText(text, resolve(file), registry, env, file);
}

export function loadConfigText(
  text: string,
  absolutePath: string,
  registry: Registry,
  env: NodeJS.ProcessEnv = process.env,
  displayName = absolutePath,
): LoadResult {
  // Messages quote what was found (a type name, a URL): whatever quotes it, no secret shows.
  const result = loadUnredacted(text, absolutePath, registry, env, displayName);
  const redact = (issues: ConfigIssue[]) =>
    issues.map((i) => ({
      ...i,
      message: redactSecrets(i.message),
      ...(i.address ? { address: redactSecrets(i.address) } : {}),
    }));
  if (!result.ok) return { ok: false, issues: redact(result.issues) };
  return { ok: true, config: { ...result.config, warnings: redact(result.config.warnings) } };
}

function loadUnredacted(
  text: string,
  absolutePath: string,
  registry: Registry,
  env: NodeJS.ProcessEnv,
  displayName: string,
): LoadResult {
  const file = displayName;
  const format = formatOf(absolutePath);
  const issues: ConfigIssue[] = [];

  const interpolated = interpolateEnv(text, env, format === 'json' ? null : '#');
  for (const m of interpolated.missing) {
    issues.push({
      severity: 'error',
      file,
      line: m.line,
      message: `environment variable ${m.name} is not set (write \${${m.name}:-default} to give a default)`,
    });
  }

  let doc: unknown;
  try {
    doc = parseDocument(interpolated.text, format);
  } catch (error) {
    issues.push(syntaxIssue(file, format, error));
    return { ok: false, issues };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    issues.push({
      severity: 'error',
      file,
      message: `expected a table of [[trigger]], [[scaler]] and [[connect]], found ${describeFound(doc)}`,
    });
    return { ok: false, issues };
  }

  const root = doc as Record<string, unknown>;
  const known = [...Object.keys(SECTIONS), 'http', 'hooks', 'store', 'cluster'];
  for (const key of Object.keys(root)) {
    if (known.includes(key)) continue;
    const guess = didYouMean(key, known);
    issues.push({
      severity: 'error',
      file,
      message: `unknown top-level key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; allowed: ${known.join(', ')}`,
    });
  }

  const http = parseSection(daemonSchema, root.http ?? {}, file, 'http', issues);
  const store = parseSection(storeSchema, root.store ?? {}, file, 'store', issues);
  const hooks = root.hooks === undefined ? undefined : parseSection(hooksSchema, root.hooks, file, 'hooks', issues);
  const cluster =
    root.cluster === undefined ? undefined : parseSection(clusterSchema, root.cluster, file, 'cluster', issues);
  if (cluster && store)
    for (const p of clusterProblems(cluster, store))
      issues.push({ severity: 'error', file, address: 'cluster', path: p.path, message: p.message });

  const components: ComponentConfig[] = [];
  for (const [section, kind] of Object.entries(SECTIONS)) {
    const entries = root[section];
    if (entries === undefined) continue;
    if (!Array.isArray(entries)) {
      issues.push({
        severity: 'error',
        file,
        message: `"${section}" must be an array of tables ([[${section}]]), found ${describeFound(entries)}`,
      });
      continue;
    }
    entries.forEach((entry, index) => {
      const component = parseComponent(entry, kind, section, index, file, registry, issues);
      if (component) components.push(component);
    });
  }

  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  const graphIssues = checkGraph(components, registry).map((g) => ({ ...g, file }));
  issues.push(...graphIssues);
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  return {
    ok: true,
    config: {
      file: absolutePath,
      http: http as z.output<typeof daemonSchema>,
      ...(hooks ? { hooks: hooks as z.output<typeof hooksSchema> } : {}),
      store: store as z.output<typeof storeSchema>,
      ...(cluster ? { cluster } : {}),
      components,
      warnings: issues,
    },
  };
}

const requireHere = createRequire(import.meta.url);

/** The yaml library loads with the first YAML file: TOML and JSON configs never pay for it. */
function yaml(): typeof import('yaml') {
  return requireHere('yaml') as typeof import('yaml');
}

function parseDocument(text: string, format: Format): unknown {
  if (format === 'yaml') return yaml().parse(text);
  if (format === 'json') return JSON.parse(text);
  return parseToml(text);
}

function syntaxIssue(file: string, format: Format, error: unknown): ConfigIssue {
  if (error instanceof TomlError) {
    const first = error.message.split('\n')[0] ?? error.message;
    return {
      severity: 'error',
      file,
      line: error.line,
      column: error.column,
      message: `TOML syntax error: ${first.replace(/^Invalid TOML document: /, '')}`,
    };
  }
  if (format === 'yaml' && error instanceof yaml().YAMLParseError) {
    const pos = error.linePos?.[0];
    return {
      severity: 'error',
      file,
      line: pos?.line,
      column: pos?.col,
      message: `YAML syntax error: ${error.message.split('\n')[0]}`,
    };
  }
  return { severity: 'error', file, message: `${format.toUpperCase()} syntax error: ${(error as Error).message}` };
}

function parseSection<S extends z.ZodType>(
  schema: S,
  value: unknown,
  file: string,
  name: string,
  issues: ConfigIssue[],
): z.output<S> | undefined {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const m of zodIssueMessages(schema, result.error.issues, value))
    issues.push({ severity: 'error', file, address: name, path: m.path, message: m.message });
  return undefined;
}

function parseComponent(
  entry: unknown,
  kind: ComponentKind,
  section: string,
  index: number,
  file: string,
  registry: Registry,
  issues: ConfigIssue[],
): ComponentConfig | undefined {
  const position = `${section}[${index}]`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    issues.push({
      severity: 'error',
      file,
      address: position,
      message: `expected a table, found ${describeFound(entry)}`,
    });
    return undefined;
  }
  const raw = entry as Record<string, unknown>;
  const id = typeof raw.id === 'string' ? raw.id : undefined;
  const address = id ? `${kind}.${id}` : position;
  if (typeof raw.type !== 'string') {
    issues.push({
      severity: 'error',
      file,
      address,
      path: 'type',
      message: `is required (expected one of: ${registry.types(kind).join(', ')}), found ${describeFound(raw.type)}`,
    });
    return undefined;
  }
  const definition = registry.get(kind, raw.type);
  if (!definition) {
    const guess = didYouMean(raw.type, registry.types(kind));
    issues.push({
      severity: 'error',
      file,
      address,
      path: 'type',
      message: `unknown ${kind} type "${raw.type}"${guess ? ` (did you mean "${guess}"?)` : ''}; known: ${registry.types(kind).join(', ')}`,
    });
    return undefined;
  }
  let result: ReturnType<typeof definition.schema.safeParse>;
  try {
    result = definition.schema.safeParse(raw, { reportInput: true });
  } catch (error) {
    // A check inside a schema that throws (a URL parser on a value it cannot parse) is a bug
    // in that check; the user still gets a sentence naming the component, never a stack trace.
    issues.push({
      severity: 'error',
      file,
      address,
      message: `could not be validated (${redactSecrets((error as Error).message)}); check its fields against the reference`,
    });
    return undefined;
  }
  if (!result.success) {
    for (const m of zodIssueMessages(definition.schema, result.error.issues, raw)) {
      issues.push({ severity: 'error', file, address, path: m.path || undefined, message: m.message });
    }
    return undefined;
  }
  const config = result.data as ComponentConfig['config'];
  return { kind, type: raw.type, id: config.id, address: `${kind}.${config.id}`, index, definition, config };
}
