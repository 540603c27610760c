/**
 * GitHub Actions jobs waiting for (and running on) self-hosted runners with a given label
 * set. Two sources, usable alone or together:
 * - `workflow_job` webhooks on `POST /hooks/<id>` (signed with X-Hub-Signature-256), which
 *   move each job through queued → in_progress → completed as they happen;
 * - polling the REST API (runs queued or in progress, then their jobs), with ETags so an
 *   unchanged listing costs no rate limit. A poll's result replaces what webhooks built, so
 *   a missed delivery cannot leave a job counted forever.
 * Each change emits `{ value: queued + in_progress, queued, in_progress, waiting, labels }`.
 */
import { z } from 'zod';
import { duration } from '../../core/duration.js';
import { triggerSchema } from '../../core/schema.js';
import type { ComponentContext, EventData, HookRequest, HookResponse, TriggerDefinition } from '../../core/types.js';
import { createPoller, type PollControl, pollingFields, secretFromEnv } from '../poller.js';
import { header, mountHook, parseJsonObject, verifyHubSignature } from '../webhook.js';
import { type CiApi, ciApiClient, retryAfterMs } from './api-client.js';
import { DeliveryLog, JobBook, type JobStatus, jobQueueTrigger, labelsMatch, type TokenPolling } from './job-queue.js';

const MAX_PAGES = 10;

const common = {
  labels: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'Labels of the runners being scaled, e.g. `["self-hosted", "linux", "x64"]`. A job counts when every label of its `runs-on` is in this set (case-insensitive), as GitHub assigns jobs.',
    ),
  secret: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Webhook secret; enables `POST /hooks/<id>` for `workflow_job` events, verified with X-Hub-Signature-256. Prefer `secret_env`, or config interpolation, to writing it in the file.',
    ),
  secret_env: secretFromEnv
    .optional()
    .describe('Name of an environment variable holding the webhook secret (instead of `secret`).'),
};

const POLL_DOC =
  'Also poll the REST API (alone, or as a backstop that corrects drift from missed webhooks). The repository, API and polling fields exist only with `poll = true`.';

const forgetAfter = {
  forget_after: duration(
    'Drop a tracked job not heard of for this long (a missed "completed" delivery must not hold the count up forever).',
  ).default(86_400_000),
};

/** Webhooks only: nothing is polled, so no repository, token or interval. */
const webhooksOnly = triggerSchema('github_actions', {
  ...common,
  poll: z.literal(false).default(false).describe(POLL_DOC),
  ...forgetAfter,
});

const polling = triggerSchema('github_actions', {
  ...common,
  poll: z.literal(true).describe(POLL_DOC),
  owner: z.string().min(1).optional().describe('Owner of the polled repository (with `repo`).'),
  repo: z.string().min(1).optional().describe('Name of the polled repository (with `owner`).'),
  org: z.string().min(1).optional().describe('Organization whose `repos` are polled (instead of `owner`/`repo`).'),
  repos: z.array(z.string().min(1)).min(1).optional().describe('Repositories of `org` to poll.'),
  api_url: z
    .url()
    .default('https://api.github.com')
    .describe('REST API base URL; for GitHub Enterprise Server use `https://<host>/api/v3`.'),
  token_env: secretFromEnv
    .default('GITHUB_TOKEN')
    .describe('Name of the environment variable holding the API token used for polling (default `GITHUB_TOKEN`).'),
  ...forgetAfter,
  ...pollingFields,
});

const schema = z.discriminatedUnion('poll', [webhooksOnly, polling]).superRefine((value, ctx) => {
  if (!value.secret && !value.secret_env && !value.poll) {
    ctx.addIssue({
      code: 'custom',
      path: ['secret'],
      message: 'expected `secret` or `secret_env` (webhooks), or `poll = true`',
    });
  }
  if (value.secret && value.secret_env) {
    ctx.addIssue({ code: 'custom', path: ['secret_env'], message: 'set either `secret` or `secret_env`, not both' });
  }
  if (!value.poll) return;
  const single = value.owner !== undefined || value.repo !== undefined;
  const many = value.org !== undefined || value.repos !== undefined;
  if (single && many) {
    ctx.addIssue({
      code: 'custom',
      path: ['org'],
      message: 'set either `owner` and `repo`, or `org` and `repos`, not both',
    });
  } else if (single ? !(value.owner && value.repo) : !(value.org && value.repos)) {
    ctx.addIssue({
      code: 'custom',
      path: [single ? 'repo' : 'repos'],
      message: 'polling needs `owner` and `repo`, or `org` and `repos`',
    });
  }
});

type PollingConfig = z.output<typeof polling>;

const WEBHOOK_STATUS: Record<string, JobStatus> = {
  queued: 'queued',
  waiting: 'waiting',
  in_progress: 'in_progress',
  completed: 'completed',
};

// REST job statuses that still need (or hold) a runner; `pending`/`requested` are queued too.
const REST_STATUS: Record<string, JobStatus> = {
  queued: 'queued',
  pending: 'queued',
  requested: 'queued',
  waiting: 'waiting',
  in_progress: 'in_progress',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

function repositories(config: PollingConfig): string[] {
  if (config.owner && config.repo) return [`${config.owner}/${config.repo}`];
  return (config.repos ?? []).map((r) => `${config.org}/${r}`);
}

/**
 * GitHub's REST API: a bearer token, conditional GETs (a 304 costs no rate limit), and two
 * ways to say "slow down": 429 or 403 with Retry-After (secondary limits), or 403 with
 * X-RateLimit-Remaining 0 until X-RateLimit-Reset (epoch seconds).
 */
function githubApi(config: PollingConfig): CiApi {
  return {
    name: 'GitHub',
    baseUrl: config.api_url,
    tokenEnv: config.token_env,
    conditional: true,
    headers: (token) => ({
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${token}`,
      'X-GitHub-Api-Version': '2022-11-28',
    }),
    rateLimit(response, now) {
      if (response.status !== 403 && response.status !== 429) return undefined;
      const remaining = response.headers.get('x-ratelimit-remaining');
      const reset = Number(response.headers.get('x-ratelimit-reset'));
      const retry = retryAfterMs(response.headers.get('retry-after'), now);
      const waitMs = retry ?? (remaining === '0' && Number.isFinite(reset) ? reset * 1000 - now : undefined);
      // A 403 that is no rate limit (no permission) is reported as what it is.
      if (waitMs === undefined) return undefined;
      const at = new Date(now + Math.max(waitMs, 0)).toISOString();
      return {
        waitMs: Math.max(waitMs, 0),
        message: `GitHub API rate limit exceeded (${response.status}); next poll after ${at}`,
      };
    },
  };
}

/** Every item of a paginated list (`key` names the array in each page), following `Link: next`. */
async function listAll(
  ctx: ComponentContext,
  client: ReturnType<typeof ciApiClient>,
  path: string,
  key: string,
  control: PollControl,
): Promise<unknown[]> {
  const items: unknown[] = [];
  let url: string | undefined = path;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const { body, headers } = await client.get(url, { control });
    const pageItems = isRecord(body) ? body[key] : undefined;
    if (!Array.isArray(pageItems)) throw new Error(`${ctx.address}: GET ${url} returned no "${key}" array`);
    items.push(...pageItems);
    url = /<([^>]+)>;\s*rel="next"/.exec(headers.get('link') ?? '')?.[1];
  }
  return items;
}

/**
 * Polling: the runs queued or in progress in each repository, then their jobs. The result
 * replaces what webhooks built (JobBook.replaceUnfinished), so a missed delivery heals.
 */
function githubPolling(
  ctx: ComponentContext,
  config: PollingConfig,
  book: JobBook,
  snapshot: (source: string) => EventData,
): TokenPolling {
  const missingToken = () =>
    new Error(`${ctx.address}: environment variable ${config.token_env} is not set; polling needs a GitHub token`);
  const client = ciApiClient(ctx, githubApi(config), missingToken);
  const poller = createPoller(ctx, config, {
    async poll(control) {
      const found = new Map<string, { status: JobStatus; labels: string[] }>();
      try {
        for (const fullName of repositories(config)) {
          const runIds = new Set<number>();
          for (const status of ['queued', 'in_progress']) {
            const runs = await listAll(
              ctx,
              client,
              `/repos/${fullName}/actions/runs?status=${status}&per_page=100`,
              'workflow_runs',
              control,
            );
            for (const run of runs) if (isRecord(run) && typeof run.id === 'number') runIds.add(run.id);
          }
          for (const runId of runIds) {
            const jobs = await listAll(
              ctx,
              client,
              `/repos/${fullName}/actions/runs/${runId}/jobs?per_page=100`,
              'jobs',
              control,
            );
            for (const job of jobs) {
              if (!isRecord(job) || typeof job.id !== 'number' || typeof job.status !== 'string') continue;
              const status = REST_STATUS[job.status];
              const labels = stringArray(job.labels) ?? [];
              if (status && labelsMatch(labels, config.labels)) found.set(String(job.id), { status, labels });
            }
          }
        }
      } catch (error) {
        client.abandonPoll();
        throw error;
      }
      client.endPoll();
      book.replaceUnfinished(found);
      return snapshot('poll');
    },
  });
  return { poller, tokenEnv: config.token_env, missingToken };
}

export const githubActions: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'github_actions',
  summary:
    'Counts GitHub Actions jobs for a self-hosted runner label set from workflow_job webhooks and/or REST polling; emits `value` = queued + in_progress, `queued`, `in_progress`, `waiting`, `labels`.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "github_actions"
id = "gha_linux"
labels = ["self-hosted", "linux", "x64"]
secret_env = "GITHUB_WEBHOOK_SECRET"
poll = true
owner = "octo-org"
repo = "octo-repo"
interval = "60s"`,
  create(config, ctx) {
    const book = new JobBook(ctx.state, ctx.clock, config.forget_after);
    const deliveries = new DeliveryLog(1000);
    const snapshot = (source: string): EventData => {
      const counts = book.counts();
      return { value: counts.queued + counts.in_progress, ...counts, labels: config.labels, source };
    };

    const webhookSecret = (): string | undefined =>
      config.secret ?? (config.secret_env ? process.env[config.secret_env] : undefined);

    const handleHook = (request: HookRequest): HookResponse => {
      const secret = webhookSecret();
      if (!secret) return { status: 503, body: { error: `${ctx.address} has no webhook secret configured` } };
      if (!verifyHubSignature(secret, request.body, header(request, 'x-hub-signature-256'))) {
        ctx.logger.warn('webhook rejected: X-Hub-Signature-256 missing or wrong');
        return { status: 401, body: { error: 'invalid X-Hub-Signature-256' } };
      }
      const event = header(request, 'x-github-event');
      const delivery = header(request, 'x-github-delivery');
      if (!event || !delivery) return { status: 400, body: { error: 'missing X-GitHub-Event or X-GitHub-Delivery' } };
      const parsed = parseJsonObject(request.body);
      if (!parsed.ok) return { status: parsed.status, body: { error: parsed.message } };
      if (deliveries.has(delivery)) return { status: 200, body: { ok: true, duplicate: true } };
      if (event === 'ping') {
        deliveries.add(delivery);
        return { status: 200, body: { ok: true } };
      }
      if (event !== 'workflow_job') return { status: 202, body: { ignored: `event ${event}` } };
      const job = parsed.data.workflow_job;
      const action = parsed.data.action;
      const labels = isRecord(job) ? stringArray(job.labels) : undefined;
      const status = typeof action === 'string' ? WEBHOOK_STATUS[action] : undefined;
      if (!isRecord(job) || typeof job.id !== 'number' || !labels || !status) {
        return { status: 400, body: { error: 'expected action and workflow_job { id, labels }' } };
      }
      deliveries.add(delivery);
      if (!labelsMatch(labels, config.labels)) return { status: 202, body: { ignored: 'labels do not match' } };
      if (book.apply(String(job.id), status, labels)) ctx.emit(snapshot('webhook'));
      return { status: 200, body: { ok: true } };
    };

    if (config.secret || config.secret_env) {
      mountHook(ctx, handleHook);
    }

    return jobQueueTrigger(ctx, {
      polling: config.poll ? githubPolling(ctx, config, book, snapshot) : undefined,
      webhookSecretEnv: config.secret_env,
      snapshot,
    });
  },
};
