/**
 * GitLab CI jobs pending (and running) for a runner tag set, from the Jobs API and/or job
 * webhooks, emitted like github_actions: `{ value: queued + in_progress, queued,
 * in_progress, tags }` (queued = GitLab's `pending`, in_progress = `running`).
 *
 * GitLab's job webhook does not carry the job's own tags (only, once running, the
 * runner's), so a pending or running job heard of by webhook is looked up once through
 * `GET /projects/:id/jobs/:job_id` for its `tag_list`. Both sources therefore need a token.
 * A poll replaces the webhook-tracked state, as with github_actions.
 */
import { z } from 'zod';
import { errorMessage } from '../../core/context.js';
import { duration } from '../../core/duration.js';
import { triggerSchema } from '../../core/schema.js';
import type {
  ComponentContext,
  EventData,
  HookRequest,
  HookResponse,
  Trigger,
  TriggerDefinition,
} from '../../core/types.js';
import { createPoller, pollingFields, secretFromEnv } from '../poller.js';
import { header, mountHook, parseJsonObject, safeEqual } from '../webhook.js';
import { type CiApiClient, ciApiClient, retryAfterMs } from './api-client.js';
import { JobBook, type JobStatus, jobQueueTrigger, labelsMatch } from './job-queue.js';

const MAX_PAGES = 20;

const common = {
  tags: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Tags of the runners being scaled. A job counts when every tag in its `tags:` is in this set (case-insensitive), as GitLab assigns jobs.',
    ),
  run_untagged: z
    .boolean()
    .default(false)
    .describe('Also count jobs without tags (the runners are registered with "run untagged jobs").'),
};

const POLL_DOC =
  'Poll the Jobs API for pending and running jobs of `projects`. `projects` and the polling fields exist only with `poll = true`.';

// Webhooks look each job's tags up through the API, so both sources have the API fields.
const webhookAndApi = {
  secret_token: z
    .string()
    .min(1)
    .optional()
    .describe('Webhook secret token; enables `POST /hooks/<id>` for job events, checked against `X-Gitlab-Token`.'),
  secret_token_env: secretFromEnv
    .optional()
    .describe('Name of an environment variable holding the webhook secret token (instead of `secret_token`).'),
  api_url: z
    .url()
    .default('https://gitlab.com/api/v4')
    .describe('API base URL, ending in `/api/v4` (self-managed: `https://<host>/api/v4`).'),
  token_env: secretFromEnv
    .default('GITLAB_TOKEN')
    .describe('Name of the environment variable holding an access token with `read_api` (default `GITLAB_TOKEN`).'),
  forget_after: duration('Drop a tracked job not heard of for this long.').default(86_400_000),
};

const webhooksOnly = triggerSchema('gitlab', {
  ...common,
  poll: z.literal(false).default(false).describe(POLL_DOC),
  ...webhookAndApi,
});

const polling = triggerSchema('gitlab', {
  ...common,
  poll: z.literal(true).describe(POLL_DOC),
  projects: z
    .array(z.union([z.number().int().positive(), z.string().min(1)]), {
      error: (issue) => (issue.input === undefined ? 'polling needs `projects`' : undefined),
    })
    .min(1)
    .describe('Projects to poll, by numeric id or full path (`group/project`).'),
  ...webhookAndApi,
  ...pollingFields,
});

const schema = z.discriminatedUnion('poll', [webhooksOnly, polling]).superRefine((value, ctx) => {
  if (value.tags.length === 0 && !value.run_untagged) {
    ctx.addIssue({ code: 'custom', path: ['tags'], message: 'expected at least one tag, or `run_untagged = true`' });
  }
  if (!value.secret_token && !value.secret_token_env && !value.poll) {
    ctx.addIssue({
      code: 'custom',
      path: ['secret_token'],
      message: 'expected `secret_token` or `secret_token_env` (webhooks), or `poll = true`',
    });
  }
});

type Config = z.output<typeof schema>;
type PollingConfig = z.output<typeof polling>;

// Only these need a runner; `created` and `manual` jobs are not runnable yet, so are left out.
const ACTIVE: Record<string, JobStatus> = { pending: 'queued', running: 'in_progress' };
const FINISHED = new Set(['success', 'failed', 'canceled', 'skipped']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function tagList(job: Record<string, unknown>): string[] {
  const tags = job.tag_list;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

/**
 * GitLab's 429: Retry-After (seconds), else RateLimit-Reset, which GitLab documents as the
 * Unix time (seconds) when the quota resets, not a number of seconds to wait.
 */
export function gitlabRateLimit(
  response: Response,
  now: number,
): { waitMs: number | undefined; message: string } | undefined {
  if (response.status !== 429) return undefined;
  const reset = Number(response.headers.get('ratelimit-reset') ?? Number.NaN);
  const waitMs =
    retryAfterMs(response.headers.get('retry-after'), now) ??
    (Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now) : undefined);
  return {
    waitMs,
    message: `GitLab API rate limit exceeded (429); retry after ${Math.ceil((waitMs ?? 0) / 1000)} s`,
  };
}

const projectPath = (project: string | number) => `/projects/${encodeURIComponent(String(project))}`;

/** Polling: pending and running jobs of each project; the result replaces what webhooks built. */
function gitlabPoller(
  ctx: ComponentContext,
  config: PollingConfig,
  client: CiApiClient,
  book: JobBook,
  snapshot: (source: string) => EventData,
): Trigger {
  const matches = (tags: string[]) => labelsMatch(tags, config.tags, config.run_untagged);
  const poller = createPoller(ctx, config, {
    async poll(control) {
      const found = new Map<string, { status: JobStatus; labels: string[] }>();
      for (const project of config.projects) {
        let page: string | null = '1';
        for (let n = 0; page && n < MAX_PAGES; n++) {
          const response = await client.get(
            `${projectPath(project)}/jobs?scope[]=pending&scope[]=running&per_page=100&page=${page}`,
            { control },
          );
          const jobs = response.body;
          if (!Array.isArray(jobs)) throw new Error(`${ctx.address}: jobs of project ${project} is not a list`);
          for (const job of jobs) {
            if (!isRecord(job) || typeof job.id !== 'number' || typeof job.status !== 'string') continue;
            const status = ACTIVE[job.status];
            const tags = tagList(job);
            if (status && matches(tags)) found.set(String(job.id), { status, labels: tags });
          }
          // GitLab leaves X-Next-Page empty on the last page.
          page = response.headers.get('x-next-page') || null;
        }
      }
      book.replaceUnfinished(found);
      return snapshot('poll');
    },
  });
  return poller;
}

export const gitlab: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'gitlab',
  summary:
    'Counts GitLab CI jobs for a runner tag set from the Jobs API and/or job webhooks; emits `value` = queued (pending) + in_progress (running), `queued`, `in_progress`, `tags`.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "gitlab"
id = "gitlab_docker"
tags = ["linux", "docker"]
poll = true
projects = ["gitlab-org/gitlab-test", 380]
secret_token_env = "GITLAB_WEBHOOK_TOKEN"
interval = "30s"`,
  create(config: Config, ctx) {
    const book = new JobBook(ctx.state, ctx.clock, config.forget_after);
    const matches = (tags: string[]) => labelsMatch(tags, config.tags, config.run_untagged);
    const missingToken = () =>
      new Error(`${ctx.address}: environment variable ${config.token_env} is not set; the GitLab API needs a token`);
    const snapshot = (source: string): EventData => {
      const counts = book.counts();
      return { value: counts.queued + counts.in_progress, ...counts, tags: config.tags, source };
    };

    const client = ciApiClient(
      ctx,
      {
        name: 'GitLab',
        baseUrl: config.api_url,
        tokenEnv: config.token_env,
        headers: (token) => ({ 'PRIVATE-TOKEN': token }),
        rateLimit: gitlabRateLimit,
      },
      missingToken,
    );

    const expectedToken = () =>
      config.secret_token ?? (config.secret_token_env ? process.env[config.secret_token_env] : undefined);

    const handleHook = async (request: HookRequest): Promise<HookResponse> => {
      const expected = expectedToken();
      if (!expected) return { status: 503, body: { error: `${ctx.address} has no webhook secret token configured` } };
      if (!safeEqual(header(request, 'x-gitlab-token') ?? '', expected)) {
        ctx.logger.warn('webhook rejected: X-Gitlab-Token missing or wrong');
        return { status: 401, body: { error: 'invalid X-Gitlab-Token' } };
      }
      const parsed = parseJsonObject(request.body);
      if (!parsed.ok) return { status: parsed.status, body: { error: parsed.message } };
      const data = parsed.data;
      if (header(request, 'x-gitlab-event') !== 'Job Hook' || data.object_kind !== 'build') {
        return { status: 202, body: { ignored: 'not a job event' } };
      }
      const { build_id: jobId, build_status: buildStatus, project_id: projectId } = data;
      if (typeof jobId !== 'number' || typeof buildStatus !== 'string' || typeof projectId !== 'number') {
        return { status: 400, body: { error: 'expected build_id, build_status and project_id' } };
      }
      const id = String(jobId);
      if (FINISHED.has(buildStatus)) {
        // Every finished job leaves a tombstone (a late "running" must not revive it), but
        // only one we were counting changes the counts worth emitting.
        const counted = book.get(id)?.status;
        book.apply(id, 'completed', []);
        if (counted && counted !== 'completed') ctx.emit(snapshot('webhook'));
        return { status: 200, body: { ok: true } };
      }
      const status = ACTIVE[buildStatus];
      if (!status) return { status: 200, body: { ok: true, ignored: `status ${buildStatus}` } };
      const known = book.get(id);
      if (known) {
        // Only matching jobs are tracked, so its tags are already known: no API call.
        if (book.apply(id, status, known.labels)) ctx.emit(snapshot('webhook'));
        return { status: 200, body: { ok: true } };
      }
      let tags: string[];
      try {
        const { body: job } = await client.get(`${projectPath(projectId)}/jobs/${jobId}`, { signal: ctx.signal });
        tags = isRecord(job) ? tagList(job) : [];
      } catch (error) {
        // Answer 202, not 5xx: GitLab disables a webhook that keeps failing.
        ctx.emitError(new Error(`${ctx.address}: could not read the tags of job ${jobId}: ${errorMessage(error)}`));
        return { status: 202, body: { error: 'job tags unavailable' } };
      }
      if (!matches(tags)) return { status: 202, body: { ignored: 'tags do not match' } };
      if (book.apply(id, status, tags)) ctx.emit(snapshot('webhook'));
      return { status: 200, body: { ok: true } };
    };

    if (config.secret_token || config.secret_token_env) {
      mountHook(ctx, handleHook);
    }

    return jobQueueTrigger(ctx, {
      polling: config.poll
        ? { poller: gitlabPoller(ctx, config, client, book, snapshot), tokenEnv: config.token_env, missingToken }
        : undefined,
      webhookSecretEnv: config.secret_token_env,
      // Webhooks look each job's tags up through the API, so they need the token too.
      webhookToken: { tokenEnv: config.token_env, missingToken },
      snapshot,
    });
  },
};
