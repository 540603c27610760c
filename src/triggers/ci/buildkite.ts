/**
 * Buildkite job queues, through the agent metrics API (`GET <endpoint>/metrics`, agent
 * token), with the original waymond's event shape: one event per queue. Buildkite tells
 * clients how often they may poll with `Buildkite-Agent-Metrics-Poll-Duration` (seconds);
 * polling faster only earns errors, so that header is a floor under our interval.
 */
import { z } from 'zod';
import { triggerSchema } from '../../core/schema.js';
import type { EventData, TriggerDefinition } from '../../core/types.js';
import { createPoller, pollingFields, requireEnvToken, secretFromEnv } from '../poller.js';
import { ciApiClient, retryAfterMs } from './api-client.js';

export const BUILDKITE_DEFAULT_ENDPOINT = 'https://agent.buildkite.com/v3';
const POLL_DURATION_HEADER = 'buildkite-agent-metrics-poll-duration';

const schema = triggerSchema('buildkite', {
  filter_by_queue_name: z
    .string()
    .superRefine((pattern, ctx) => {
      try {
        new RegExp(pattern);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `expected a valid regex: ${(error as Error).message}` });
      }
    })
    .optional()
    .describe('Regular expression; only queues whose name matches it (anywhere in the name) emit events.'),
  token_env: secretFromEnv
    .default('BUILDKITE_TOKEN')
    .describe('Name of the environment variable holding the Buildkite agent token (default `BUILDKITE_TOKEN`).'),
  endpoint: z
    .url()
    .default(BUILDKITE_DEFAULT_ENDPOINT)
    .describe('Base URL of the Buildkite agent API; `/metrics` is appended.'),
  ...pollingFields,
});

interface JobCounts {
  scheduled: number;
  running: number;
  waiting: number;
  total: number;
}
interface AgentCounts {
  idle: number;
  busy: number;
  total: number;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Turns a metrics response into one event per queue, in name order. */
export function queueEvents(body: unknown, filter: RegExp | undefined): EventData[] {
  const root = record(body);
  const jobs = record(record(root.jobs).queues);
  const agents = record(record(root.agents).queues);
  if (root.jobs === undefined || typeof root.jobs !== 'object') {
    throw new Error('response has no "jobs" object; is the endpoint the agent metrics API?');
  }
  // A queue with agents but no jobs still gets an event, so a fleet can scale in to zero.
  const names = [...new Set([...Object.keys(jobs), ...Object.keys(agents)])].sort();
  return names
    .filter((name) => !filter || filter.test(name))
    .map((queue) => {
      const j = record(jobs[queue]);
      const a = record(agents[queue]);
      const job: JobCounts = {
        scheduled: count(j.scheduled),
        running: count(j.running),
        waiting: count(j.waiting),
        total: count(j.total),
      };
      const agent: AgentCounts = { idle: count(a.idle), busy: count(a.busy), total: count(a.total) };
      return {
        queue,
        value: job.scheduled + job.running,
        scheduled_jobs_count: job.scheduled,
        running_jobs_count: job.running,
        waiting_jobs_count: job.waiting,
        total_jobs_count: job.total,
        idle_agents: agent.idle,
        busy_agents: agent.busy,
        total_agents: agent.total,
      };
    });
}

export const buildkite: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'buildkite',
  summary:
    'Polls the Buildkite agent metrics API and emits one event per queue: scheduled, running, waiting and total jobs, idle, busy and total agents, and `value` = scheduled + running.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "buildkite"
id = "my_buildkite_org"
filter_by_queue_name = "^linux-.*"
token_env = "BUILDKITE_TOKEN"
interval = "30s"`,
  create(config, ctx) {
    const filter = config.filter_by_queue_name ? new RegExp(config.filter_by_queue_name) : undefined;
    const missingToken = () =>
      new Error(
        `${ctx.address}: environment variable ${config.token_env} is not set; it must hold a Buildkite agent token`,
      );
    const client = ciApiClient(
      ctx,
      {
        name: 'Buildkite',
        baseUrl: config.endpoint,
        tokenEnv: config.token_env,
        tokenKind: 'agent token',
        headers: (token) => ({ Authorization: `Token ${token}`, Accept: 'application/json' }),
        onResponse(response, control) {
          const pollSeconds = Number(response.headers.get(POLL_DURATION_HEADER));
          if (Number.isFinite(pollSeconds) && pollSeconds > 0) control?.deferNextPoll(pollSeconds * 1000);
        },
        rateLimit: (response, now) =>
          response.status === 429
            ? {
                waitMs: retryAfterMs(response.headers.get('retry-after'), now),
                message: 'Buildkite is rate limiting this token (429); polling again later',
              }
            : undefined,
      },
      missingToken,
    );

    const poller = createPoller(ctx, config, {
      async poll(control) {
        const { body } = await client.get('/metrics', { control });
        return queueEvents(body, filter);
      },
    });

    return requireEnvToken(poller, ctx, config.token_env, missingToken);
  },
};
