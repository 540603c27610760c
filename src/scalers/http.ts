/**
 * POSTs `{desired, scaler, reason}` to a URL. With `observe_url`, a JSONata `current`
 * expression over the JSON response is the current count; without, the last count sent.
 */
import jsonata from 'jsonata';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type { ScalerDefinition } from '../core/types.js';

const schema = scalerSchema('http', {
  url: z.url().describe('Where the desired count is POSTed as JSON `{desired, scaler, reason}`.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (e.g. Authorization).'),
  observe_url: z.url().optional().describe('GET this URL to observe the current count.'),
  current: z
    .string()
    .default('current')
    .describe('JSONata expression over the observe_url response giving the current count.')
    .superRefine((expr, ctx) => {
      try {
        jsonata(expr);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `invalid JSONata: ${(error as Error).message}` });
      }
    }),
  timeout: duration('Request timeout.').default(10_000),
});

async function readJson(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what} answered ${response.status}: ${text.slice(0, 200)}`);
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new Error(`${what} answered with something that is not JSON: ${text.slice(0, 80)}`);
  }
}

export const http: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'http',
  summary: 'POSTs the desired count to a URL; optionally observes the current count from another URL.',
  schema,
  example: `[[scaler]]
type = "http"
id = "pool_api"
url = "http://127.0.0.1:8080/pool/size"
observe_url = "http://127.0.0.1:8080/pool"
current = "size"`,
  create(config, ctx) {
    const currentExpr = jsonata(config.current);
    let sent = ctx.state.get<number>('sent') ?? 0;
    return {
      async observe() {
        if (!config.observe_url) return { count: sent };
        const response = await fetch(config.observe_url, {
          headers: config.headers,
          signal: AbortSignal.timeout(config.timeout),
        });
        const body = await readJson(response, `GET ${config.observe_url}`);
        const value: unknown = await currentExpr.evaluate(body);
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
          throw new Error(
            `current expression "${config.current}" gave ${JSON.stringify(value)}, expected an integer >= 0`,
          );
        }
        return { count: value };
      },
      async apply(plan) {
        const response = await fetch(config.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...config.headers },
          body: JSON.stringify({ desired: plan.desired, scaler: ctx.address, reason: plan.reason }),
          signal: AbortSignal.timeout(config.timeout),
        });
        await readJson(response, `POST ${config.url}`);
        sent = plan.desired;
        ctx.state.set('sent', sent);
      },
    };
  },
};
