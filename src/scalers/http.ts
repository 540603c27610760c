/**
 * POSTs `{desired, scaler, reason}` to a URL. With `observe_url`, a JSONata `current`
 * expression over the JSON response is the current count; without, the last count sent.
 * apply sends what planHttpCalls() lists; a dry run shows the same (without the headers).
 */
import jsonata from 'jsonata';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import { httpError } from '../core/errors.js';
import { scalerSchema } from '../core/schema.js';
import type { Plan, ScalerDefinition } from '../core/types.js';

const capabilities = { members: false, runInMember: false, stopAll: false } as const;

const schema = scalerSchema(
  'http',
  {
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
  },
  capabilities,
);

async function readJson(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw httpError(`${what} answered ${response.status}: ${text.slice(0, 200)}`, response.status);
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new Error(`${what} answered with something that is not JSON: ${text.slice(0, 80)}`);
  }
}

/** The one call of an apply; headers are left out of what a dry run prints (they may hold a token). */
export interface HttpCall {
  method: 'POST';
  url: string;
  body: { desired: number; scaler: string; reason: string };
}

/** What `apply(plan)` sends; pure, so a dry run lists exactly this. */
export function planHttpCalls(plan: Pick<Plan, 'desired' | 'reason'>, url: string, address: string): HttpCall[] {
  return [{ method: 'POST', url, body: { desired: plan.desired, scaler: address, reason: plan.reason } }];
}

export const http: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'http',
  capabilities,
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
      describeApply(plan) {
        return planHttpCalls(plan, config.url, ctx.address).map(
          (c) => `${c.method} ${c.url} ${JSON.stringify(c.body)}`,
        );
      },
      async apply(plan) {
        for (const call of planHttpCalls(plan, config.url, ctx.address)) {
          const response = await fetch(call.url, {
            method: call.method,
            // In a cluster, the lease's fencing token: a target may refuse one older than it saw.
            headers: {
              'content-type': 'application/json',
              ...config.headers,
              ...(plan.fence ? { 'x-waymond-fence': plan.fence } : {}),
            },
            body: JSON.stringify(call.body),
            signal: AbortSignal.timeout(config.timeout),
          });
          await readJson(response, `${call.method} ${call.url}`);
        }
        sent = plan.desired;
        ctx.state.set('sent', sent);
      },
    };
  },
};
