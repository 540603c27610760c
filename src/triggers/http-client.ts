/**
 * Polls an HTTP endpoint that answers JSON, on its own `interval` or whenever its input
 * fires. The event data is the response body (a JSON object), or what the optional
 * `extract` JSONata expression makes of it. Anything short of a usable answer (a non-2xx
 * status, a timeout, a body that is not JSON, an extract that yields no object, a `value`
 * that is not a usable number) is an error event, never an event with made-up data.
 */
import { z } from 'zod';
import { compileJsonata, requireObject } from '../connectors/transforms/jsonata.js';
import { errorMessage } from '../core/context.js';
import { httpError } from '../core/errors.js';
import { triggerSchema } from '../core/schema.js';
import type { EventData, TriggerDefinition } from '../core/types.js';
import { checkMetricValue, createPoller, pollingFields } from './poller.js';

/** Longest response body read; a bigger one is a misconfigured URL, not a metric. */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

const schema = triggerSchema('http_client', {
  url: z.url().describe('URL to request. Query parameters and credentials in it are never printed in errors.'),
  method: z.enum(['GET', 'POST']).default('GET').describe('HTTP method.'),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe(
      'Request headers, e.g. `{ Authorization = "Bearer ${API_TOKEN}" }` (config interpolation keeps the token out of the file).',
    ),
  body: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('JSON object sent as the body of a POST (with `Content-Type: application/json`).'),
  extract: z
    .string()
    .superRefine((expression, ctx) => {
      try {
        compileJsonata(expression);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: errorMessage(error) });
      }
    })
    .optional()
    .describe(
      'JSONata expression over the response body, with `$status` (number), `$headers` (lower-case names) and `$input` (data of the input event, when fired) bound. Its result, which must be an object, is the event data; without it the body itself (which must then be an object) is. A `value` field in the data must be a number >= 0.',
    ),
  ...pollingFields,
}).superRefine((value, ctx) => {
  if (value.method === 'GET' && value.body !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: 'a GET request has no body; set `method = "POST"`' });
  }
});

/** The URL as it may be printed: no credentials, no query string (either may hold a token). */
export function printableUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * fetch refuses URLs with credentials (`https://user:pass@host`), so they become a Basic
 * `Authorization` header, unless the config sets that header itself.
 */
export function splitCredentials(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

function excerpt(text: string, limit = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > limit ? `${flat.slice(0, limit)}…` : flat);
}

function isObject(value: unknown): value is EventData {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : `a ${typeof value}`;
}

export const httpClient: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'http_client',
  summary:
    'Requests a URL (GET or POST) on an interval or on input; emits the JSON answer, or what `extract` makes of it.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "http_client"
id = "queue_api"
url = "http://127.0.0.1:8080/api/queue"
interval = "30s"
headers = { Accept = "application/json" }
extract = '{ "value": jobs.pending, "queue": name }'`,
  create(config, ctx) {
    const extract = config.extract !== undefined ? compileJsonata(config.extract) : undefined;
    const target = `${config.method} ${printableUrl(config.url)}`;
    const request = splitCredentials(config.url);
    // Errors from fetch may quote the URL; only the printable form may leave this trigger.
    const scrub = (message: string) =>
      message.split(config.url).join(printableUrl(config.url)).split(request.url).join(printableUrl(config.url));
    const fail = (message: string, status?: number) =>
      status === undefined
        ? new Error(`${ctx.address}: ${target} ${scrub(message)}`)
        : httpError(`${ctx.address}: ${target} ${scrub(message)}`, status);

    return createPoller(ctx, config, {
      // Checked below only when the data carries a `value`: a generic JSON answer need not.
      requireValue: false,
      async poll(control) {
        const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'waymond' };
        if (request.authorization) headers.authorization = request.authorization;
        for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value;
        if (config.body !== undefined) headers['content-type'] = 'application/json';
        let response: Response;
        try {
          response = await fetch(request.url, {
            method: config.method,
            headers,
            body: config.body !== undefined ? JSON.stringify(config.body) : undefined,
            signal: control.signal,
          });
        } catch (error) {
          // fetch hides the cause ("fetch failed"); the cause says "connection refused".
          const cause = (error as { cause?: unknown }).cause;
          throw fail(`failed: ${errorMessage(error)}${cause ? ` (${errorMessage(cause)})` : ''}`);
        }
        const text = await response.text();
        if (!response.ok) {
          throw fail(`answered ${response.status} ${response.statusText}: ${excerpt(text)}`, response.status);
        }
        if (Buffer.byteLength(text) > MAX_RESPONSE_BYTES) {
          throw fail(`answered ${Buffer.byteLength(text)} bytes, over the ${MAX_RESPONSE_BYTES} byte limit`);
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          throw fail(`answered with a body that is not JSON (${errorMessage(error)}): ${excerpt(text)}`);
        }
        let data: EventData;
        if (extract) {
          const bindings = {
            status: response.status,
            headers: Object.fromEntries(response.headers),
            input: control.input?.data,
          };
          try {
            data = requireObject(await extract(body, bindings), 'extract');
          } catch (error) {
            throw fail(`answer could not be used: ${errorMessage(error)}`);
          }
        } else if (isObject(body)) {
          data = body;
        } else {
          throw fail(`answered ${describeJson(body)}, not a JSON object; use \`extract\` to make an object of it`);
        }
        if ('value' in data) {
          const problem = checkMetricValue(data.value);
          if (problem) throw fail(`answer could not be used: ${problem}`);
        }
        return data;
      },
    });
  },
};
