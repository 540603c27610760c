import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { httpError } from '../core/errors.js';
import { triggerSchema } from '../core/schema.js';
import type { EventData, TriggerDefinition } from '../core/types.js';
import { createPoller, pollingFields, secretFromEnv } from './poller.js';

const AGGREGATES = ['sum', 'max', 'min', 'avg'] as const;
type Aggregate = (typeof AGGREGATES)[number];

/** Largest response body read; an instant query for one number never needs more. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const schema = triggerSchema('prometheus', {
  url: z
    .string()
    .url()
    // zod runs refinements even when .url() failed: each one checks that the URL parses first.
    .refine((u) => !URL.canParse(u) || /^https?:$/.test(new URL(u).protocol), 'expected an http:// or https:// URL')
    .refine((u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''), {
      message: 'credentials in the URL would be logged; use `username` + `password_env` or `bearer_token_env`',
    })
    .describe(
      'Base URL of the Prometheus server (or a compatible API: Thanos, Mimir, VictoriaMetrics), e.g. `http://prometheus:9090`; `/api/v1/query` is appended.',
    ),
  query: z.string().min(1).describe('PromQL expression evaluated as an instant query; its one number is `value`.'),
  aggregate: z
    .enum(AGGREGATES)
    .optional()
    .describe(
      'Combine several samples into one value with `sum`, `max`, `min` or `avg`. Without it, a query returning more than one sample is an error event.',
    ),
  empty_as_zero: z
    .boolean()
    .default(false)
    .describe(
      'Treat an empty result as 0. Dangerous: a typo in the query, a renamed metric or a broken scrape then reads as "no load" and scales the target down; prefer `… or vector(0)` in the query where zero is really meant.',
    ),
  bearer_token_env: secretFromEnv
    .optional()
    .describe('Name of the environment variable holding a bearer token sent as `Authorization: Bearer …`.'),
  username: z.string().optional().describe('User name for HTTP basic auth (with `password_env`).'),
  password_env: secretFromEnv
    .optional()
    .describe('Name of the environment variable holding the HTTP basic auth password (with `username`).'),
  ...pollingFields,
}).superRefine((value, ctx) => {
  if (value.bearer_token_env !== undefined && value.username !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['bearer_token_env'],
      message: 'expected either `bearer_token_env` or `username` + `password_env`, not both',
    });
  }
  if ((value.username === undefined) !== (value.password_env === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [value.username === undefined ? 'username' : 'password_env'],
      message: 'basic auth needs both `username` and `password_env`',
    });
  }
});

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Reads Prometheus' sample value ("12", "NaN", "+Inf") and refuses the non-finite ones. */
function sampleValue(raw: unknown, where: string): number {
  if (!Array.isArray(raw) || typeof raw[1] !== 'string') {
    throw new Error(`${where} has no [time, "value"] pair (a native histogram?); select a number`);
  }
  const value = Number(raw[1]);
  if (!Number.isFinite(value)) throw new Error(`${where} is ${raw[1]}, expected a finite number`);
  return value;
}

/** The samples of an instant query's `data`, whatever its resultType. Exported for unit tests. */
export function samplesOf(data: unknown): { resultType: string; samples: Sample[] } {
  const d = (data ?? {}) as { resultType?: unknown; result?: unknown };
  switch (d.resultType) {
    case 'scalar':
      return { resultType: 'scalar', samples: [{ labels: {}, value: sampleValue(d.result, 'the scalar result') }] };
    case 'vector': {
      if (!Array.isArray(d.result)) throw new Error('vector result is not a list');
      const samples = d.result.map((entry: unknown) => {
        const e = (entry ?? {}) as { metric?: Record<string, string>; value?: unknown };
        const labels = e.metric ?? {};
        return { labels, value: sampleValue(e.value, `sample ${formatLabels(labels)}`) };
      });
      return { resultType: 'vector', samples };
    }
    case 'matrix':
      throw new Error(
        'query returned a range vector (matrix); wrap it in a function such as rate() or max_over_time()',
      );
    default:
      throw new Error(
        `query returned a ${JSON.stringify(d.resultType)} result, expected a scalar or an instant vector`,
      );
  }
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${parts.join(', ')}}`;
}

/** Turns the samples into the one value the trigger emits, by the config's rules. */
export function combineSamples(
  samples: Sample[],
  options: { aggregate?: Aggregate | undefined; empty_as_zero: boolean },
): number {
  if (samples.length === 0) {
    if (options.empty_as_zero) return 0;
    throw new Error('query returned no samples (empty vector); set empty_as_zero = true only if that means zero');
  }
  const values = samples.map((s) => s.value);
  if (!options.aggregate) {
    if (samples.length > 1) {
      const shown = samples.slice(0, 3).map((s) => formatLabels(s.labels));
      const more = samples.length > 3 ? ', …' : '';
      throw new Error(
        `query returned ${samples.length} samples (${shown.join(', ')}${more}); aggregate them in PromQL or set aggregate`,
      );
    }
    return values[0] as number;
  }
  switch (options.aggregate) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'max':
      return Math.max(...values);
    case 'min':
      return Math.min(...values);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
  }
}

function readSecret(name: string, field: string, address: string): string {
  const value = process.env[name];
  if (value === undefined || value === '')
    throw new Error(`${address}: environment variable ${name} (${field}) is not set`);
  return value;
}

async function readBody(response: Response): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_BODY_BYTES) throw new Error(`response of ${length} bytes is over the ${MAX_BODY_BYTES} byte limit`);
  const text = await response.text();
  if (text.length > MAX_BODY_BYTES) throw new Error(`response is over the ${MAX_BODY_BYTES} byte limit`);
  return text;
}

export const prometheus: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'prometheus',
  summary: 'Polls a PromQL instant query; its one number (or an aggregate of several samples) is the value.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "prometheus"
id = "queue_depth"
url = "http://prometheus:9090"
query = 'sum(ci_queue_pending_jobs{queue="linux"})'
interval = "30s"
timeout = "10s"
bearer_token_env = "PROMETHEUS_TOKEN"`,
  create(config, ctx) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.bearer_token_env) {
      headers.authorization = `Bearer ${readSecret(config.bearer_token_env, 'bearer_token_env', ctx.address)}`;
    } else if (config.username !== undefined && config.password_env !== undefined) {
      const password = readSecret(config.password_env, 'password_env', ctx.address);
      headers.authorization = `Basic ${Buffer.from(`${config.username}:${password}`).toString('base64')}`;
    }
    const endpoint = new URL('api/v1/query', config.url.endsWith('/') ? config.url : `${config.url}/`);
    endpoint.searchParams.set('query', config.query);
    // Prometheus stops evaluating after this, instead of working on for a client that left.
    endpoint.searchParams.set('timeout', `${config.timeout}ms`);
    const where = `${endpoint.origin}${endpoint.pathname}`;

    return createPoller(ctx, config, {
      async poll(control): Promise<EventData> {
        let response: Response;
        let text: string;
        try {
          response = await fetch(endpoint, { headers, signal: control.signal });
          text = await readBody(response);
        } catch (error) {
          const cause = (error as { cause?: unknown }).cause;
          const detail = cause ? `${errorMessage(error)} (${errorMessage(cause)})` : errorMessage(error);
          throw new Error(`GET ${where} failed: ${detail}`, { cause: error });
        }
        let body: { status?: string; data?: unknown; error?: string; errorType?: string; warnings?: string[] };
        try {
          body = JSON.parse(text);
        } catch {
          throw httpError(
            `GET ${where} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 120)}`,
            response.status,
          );
        }
        if (body.status !== 'success') {
          const kind = body.errorType ? `${body.errorType}: ` : '';
          throw httpError(
            `Prometheus answered HTTP ${response.status}: ${kind}${body.error ?? 'no error message'}`,
            response.status,
          );
        }
        const { resultType, samples } = samplesOf(body.data);
        const value = combineSamples(samples, config);
        const data: EventData = { value, result_type: resultType, sample_count: samples.length };
        if (samples.length === 1) data.labels = (samples[0] as Sample).labels;
        if (body.warnings?.length) data.warnings = body.warnings;
        return data;
      },
    });
  },
};
