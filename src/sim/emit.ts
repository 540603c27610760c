/**
 * What the simulator emits on the input trigger's output: the event data that trigger type
 * emits for real, built from the job model's queue, so a policy reading `queued`,
 * `in_progress`, `scheduled_jobs_count` or `active` sees in the simulation what it will see
 * in production. Field names follow the triggers (src/triggers/ci/buildkite.ts,
 * ci/github-actions.ts, ci/gitlab.ts, redis/reads.ts); a test checks the Buildkite shape
 * against the real trigger's output.
 *
 *   buildkite       one event per queue: queue, value = scheduled + running,
 *                   scheduled_jobs_count, running_jobs_count, waiting_jobs_count (jobs
 *                   blocked on dependencies: none in a trace), total_jobs_count, idle_agents,
 *                   busy_agents, total_agents
 *   github_actions  value = queued + in_progress, queued, in_progress, waiting (jobs held
 *                   for an approval: none in a trace), labels, source
 *   gitlab          the same with `tags`
 *   redis bullmq    value = waiting + active, queue, waiting, prioritized, delayed, active,
 *                   waiting_children, paused, known
 *   redis sidekiq   value = enqueued + busy, queue, enqueued, busy, processes, known
 *   redis list      value = length = jobs waiting (a list holds only jobs not yet taken)
 *   anything else   { value: waiting + running, waiting, running }
 *
 * Metric traces have no queue: their trigger gets `{ value }` whatever its type.
 */
import type { EventData } from '../core/types.js';
import type { QueueCounts, Workload } from './workload.js';

export interface TriggerShape {
  type: string;
  config: Record<string, unknown>;
}

/** The Buildkite queue the trace stands for: a literal `filter_by_queue_name`, else "default". */
function buildkiteQueue(config: Record<string, unknown>): string {
  const filter = config.filter_by_queue_name;
  return typeof filter === 'string' && /^[\w.-]+$/.test(filter) ? filter : 'default';
}

const text = (value: unknown, fallback: string): string => (typeof value === 'string' ? value : fallback);

/** The events one tick emits for `trigger`, from the queue's counts. */
export function eventsFor(trigger: TriggerShape, c: QueueCounts): EventData[] {
  const jobs = c.waiting + c.running;
  const { config } = trigger;
  switch (trigger.type) {
    case 'buildkite':
      return [
        {
          queue: buildkiteQueue(config),
          value: jobs,
          scheduled_jobs_count: c.waiting,
          running_jobs_count: c.running,
          waiting_jobs_count: 0,
          total_jobs_count: jobs,
          idle_agents: c.idle,
          busy_agents: c.running,
          total_agents: c.idle + c.running,
        },
      ];
    case 'github_actions':
      return [
        {
          value: jobs,
          queued: c.waiting,
          waiting: 0,
          in_progress: c.running,
          labels: config.labels ?? [],
          source: 'poll',
        },
      ];
    case 'gitlab':
      return [
        { value: jobs, queued: c.waiting, waiting: 0, in_progress: c.running, tags: config.tags ?? [], source: 'poll' },
      ];
    case 'redis':
      return [redisEvent(config, c)];
    default:
      return [{ value: jobs, waiting: c.waiting, running: c.running }];
  }
}

function redisEvent(config: Record<string, unknown>, c: QueueCounts): EventData {
  switch (config.mode) {
    case 'bullmq':
      return {
        value: c.waiting + c.running,
        queue: text(config.queue, 'default'),
        waiting: c.waiting,
        prioritized: 0,
        delayed: 0,
        active: c.running,
        waiting_children: 0,
        paused: false,
        known: true,
      };
    case 'sidekiq':
      return {
        value: c.waiting + c.running,
        queue: text(config.queue, 'default'),
        enqueued: c.waiting,
        busy: c.running,
        processes: c.idle + c.running,
        known: true,
      };
    case 'list':
      return { value: c.waiting, key: text(config.key, 'queue'), length: c.waiting };
    default:
      return { value: c.waiting + c.running, waiting: c.waiting, running: c.running };
  }
}

/** What the run loop emits this tick: the trigger's own shape for job models, else the demand. */
export function triggerEvents(trigger: TriggerShape, workload: Workload): EventData[] {
  const counts = workload.counts?.();
  return counts ? eventsFor(trigger, counts) : [workload.demand()];
}
