/**
 * `mode = "jobs"`: one Kubernetes Job per unit of work (a CI agent that takes one build and
 * exits), like KEDA's ScaledJob. Jobs carry the label `waymond.io/scaler=<id>`, which is how
 * a restarted waymond finds (adopts) them.
 *
 * - Current count: Jobs that have not finished (pending or running) and are not being deleted.
 * - Scale-out: one Job per missing unit from the template (`generateName`, so no name clash).
 * - Scale-in: only a Job that has not started (no active, succeeded or failed pod) is deleted,
 *   with its resourceVersion as a precondition: if the job controller touched it since we
 *   looked (a pod appeared), the API answers 409 and it is re-read rather than deleted.
 *   A running Job is never deleted; it finishes its work and leaves on its own.
 * - History: finished Jobs beyond the limits (newest kept) are deleted with
 *   propagationPolicy Background, so their pods go too (a Job's default is to orphan them).
 *   That is housekeeping, before each observe and never in a dry run: observe changes nothing.
 * - apply runs exactly the calls planJobCalls() lists, which is also what a dry run shows.
 *
 * Loaded by scaler.ts's create(), never imported by a component definition: it imports
 * @kubernetes/client-node at module level, which costs about 73 MiB (startup memory).
 */
import { BatchV1Api, type KubeConfig, type V1Job, type V1JobStatus } from '@kubernetes/client-node';
import type { ComponentContext, Member, Observation, Plan } from '../../core/types.js';
import { isConflict, isNotFound, kubeError } from './client.js';

export const SCALER_LABEL = 'waymond.io/scaler';

export interface JobsSettings {
  namespace: string;
  /** A Job manifest (apiVersion/kind/metadata/spec) or just a JobSpec. */
  template: Record<string, unknown>;
  history_limit: { successful: number; failed: number };
}

type Outcome = 'running' | 'pending' | 'succeeded' | 'failed';

function conditionTrue(status: V1JobStatus | undefined, type: string): boolean {
  return (status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

export function jobOutcome(job: V1Job): Outcome {
  const s = job.status;
  if (conditionTrue(s, 'Complete')) return 'succeeded';
  if (conditionTrue(s, 'Failed')) return 'failed';
  // A pod that ran, or runs, means the unit of work may have been picked up.
  if ((s?.active ?? 0) > 0 || (s?.succeeded ?? 0) > 0 || (s?.failed ?? 0) > 0 || (s?.terminating ?? 0) > 0)
    return 'running';
  return 'pending';
}

function finishedAt(job: V1Job): number {
  const done = (job.status?.conditions ?? []).find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
  const time = job.status?.completionTime ?? done?.lastTransitionTime ?? job.metadata?.creationTimestamp;
  return time ? new Date(time).getTime() : 0;
}

/** Finished jobs beyond the limits, oldest first: what history cleanup deletes. */
export function expiredJobs(jobs: V1Job[], limits: { successful: number; failed: number }): V1Job[] {
  const expired: V1Job[] = [];
  for (const [outcome, keep] of [
    ['succeeded', limits.successful],
    ['failed', limits.failed],
  ] as const) {
    const done = jobs.filter((j) => jobOutcome(j) === outcome).sort((a, b) => finishedAt(b) - finishedAt(a));
    expired.push(...done.slice(keep).reverse());
  }
  return expired;
}

/** `<prefix>-` for generateName: the template's name, else the scaler id as a DNS label. */
export function jobNamePrefix(template: Record<string, unknown>, id: string): string {
  const metadata = (template.metadata ?? {}) as Record<string, unknown>;
  const given =
    typeof metadata.generateName === 'string'
      ? metadata.generateName
      : typeof metadata.name === 'string'
        ? metadata.name
        : id;
  const cleaned = given
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    // Job names must stay within 63 characters (they become a pod label); 5 are generated.
    .slice(0, 57)
    .replace(/-+$/, '');
  return `${cleaned || 'job'}-`;
}

/** The Job apply creates: the template, labelled with the scaler id, named by generateName. */
export function jobFromTemplate(template: Record<string, unknown>, namespace: string, id: string): V1Job {
  const t = structuredClone(template) as Record<string, unknown>;
  const isManifest = 'spec' in t;
  const metadata = (isManifest ? (t.metadata ?? {}) : {}) as Record<string, unknown>;
  const spec = (isManifest ? t.spec : t) as Record<string, unknown>;
  const labels = { ...((metadata.labels ?? {}) as Record<string, string>), [SCALER_LABEL]: id };
  const podTemplate = (spec.template ?? {}) as Record<string, unknown>;
  const podMeta = (podTemplate.metadata ?? {}) as Record<string, unknown>;
  // The pods carry the label too, so `kubectl get pods -l waymond.io/scaler=<id>` finds them.
  podTemplate.metadata = {
    ...podMeta,
    labels: { ...((podMeta.labels ?? {}) as Record<string, string>), [SCALER_LABEL]: id },
  };
  spec.template = podTemplate;
  const { name: _name, generateName: _generateName, namespace: _namespace, ...restMeta } = metadata;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { ...restMeta, generateName: jobNamePrefix(template, id), namespace, labels },
    spec: spec as unknown as V1Job['spec'],
  };
}

/** One API call of a jobs-mode apply. */
export type JobCall =
  | { kind: 'delete'; name: string; resourceVersion?: string; uid?: string }
  | { kind: 'create'; job: V1Job };

export interface JobsPlan {
  calls: JobCall[];
  /** Jobs a scale-in wanted gone but that have started (or finished): never deleted. */
  kept: { name: string; outcome: Outcome }[];
}

/**
 * What `apply(plan)` calls, decided from the Jobs the last observe saw; pure, so a dry run
 * lists exactly these calls. Only a Job that has not started is deleted; one Job is created
 * per unit to add.
 */
export function planJobCalls(
  plan: Pick<Plan, 'add' | 'remove'>,
  observed: ReadonlyMap<string, V1Job>,
  newJob: V1Job,
): JobsPlan {
  const calls: JobCall[] = [];
  const kept: JobsPlan['kept'] = [];
  for (const member of plan.remove) {
    const job = observed.get(member.id);
    if (!job) continue;
    const outcome = jobOutcome(job);
    if (outcome !== 'pending') {
      kept.push({ name: member.id, outcome });
      continue;
    }
    const { resourceVersion, uid } = job.metadata ?? {};
    calls.push({
      kind: 'delete',
      name: member.id,
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(uid ? { uid } : {}),
    });
  }
  for (let i = 0; i < plan.add; i++) calls.push({ kind: 'create', job: newJob });
  return { calls, kept };
}

/** A call as a dry run shows it (and as apply logs it at debug). */
export function describeJobCall(call: JobCall, jobsPath: string): string {
  if (call.kind === 'create')
    return `POST ${jobsPath} (Job from job_template, generateName ${call.job.metadata?.generateName})`;
  const precondition = call.resourceVersion ? ` (precondition resourceVersion ${call.resourceVersion})` : '';
  return `DELETE ${jobsPath}/${call.name}?propagationPolicy=Background${precondition}`;
}

/** Lines for a dry run: identical consecutive calls (N creates) as one line with "xN". */
export function collapseRepeats(lines: string[]): string[] {
  const out: string[] = [];
  let count = 0;
  for (const [i, line] of lines.entries()) {
    count++;
    if (lines[i + 1] === line) continue;
    out.push(count > 1 ? `${line} x${count}` : line);
    count = 0;
  }
  return out;
}

const DELETE_RETRIES = 2;

export class JobsTarget {
  private readonly batch: BatchV1Api;
  private readonly selector: string;
  private readonly jobsPath: string;
  private lastJobs = new Map<string, V1Job>();
  /** Running jobs a scale-in wanted gone: said once at info, then at debug. */
  private readonly keptRunning = new Set<string>();

  constructor(
    kc: KubeConfig,
    private readonly s: JobsSettings,
    private readonly ctx: ComponentContext,
  ) {
    this.batch = kc.makeApiClient(BatchV1Api);
    this.selector = `${SCALER_LABEL}=${ctx.id}`;
    this.jobsPath = `/apis/batch/v1/namespaces/${s.namespace}/jobs`;
  }

  private async listJobs(): Promise<V1Job[]> {
    try {
      return (await this.batch.listNamespacedJob({ namespace: this.s.namespace, labelSelector: this.selector })).items;
    } catch (error) {
      throw kubeError(error, this.ctx.address, `list jobs in ${this.s.namespace} (labelSelector ${this.selector})`);
    }
  }

  /**
   * Deletes finished Jobs beyond history_limit. Runs before every observe (never in a dry
   * run), because apply only runs when the count is off and history grows regardless.
   */
  async housekeep(): Promise<void> {
    let jobs: V1Job[];
    try {
      jobs = await this.listJobs();
    } catch (error) {
      // observe lists again and reports it; cleanup must not block scaling.
      this.ctx.logger.debug({ err: (error as Error).message }, 'history cleanup skipped: cannot list jobs');
      return;
    }
    await this.cleanHistory(jobs);
  }

  /** Jobs that have not finished and are not being deleted; changes nothing. */
  async observe(): Promise<Observation> {
    const jobs = await this.listJobs();
    const members: Member[] = [];
    this.lastJobs = new Map();
    for (const job of jobs) {
      const name = job.metadata?.name;
      const outcome = jobOutcome(job);
      if (!name || job.metadata?.deletionTimestamp || outcome === 'succeeded' || outcome === 'failed') continue;
      this.lastJobs.set(name, job);
      const ready = (job.status?.ready ?? 0) > 0;
      const created = job.metadata?.creationTimestamp;
      members.push({
        id: name,
        state: ready ? 'running' : 'starting',
        ready,
        ...(created ? { startedAt: new Date(created).getTime() } : {}),
        info: { phase: outcome, active: job.status?.active ?? 0, namespace: this.s.namespace },
      });
    }
    for (const name of this.keptRunning) if (!this.lastJobs.has(name)) this.keptRunning.delete(name);
    return { count: members.length, ready: members.filter((m) => m.ready).length, members };
  }

  private plan(plan: Pick<Plan, 'add' | 'remove'>): JobsPlan {
    return planJobCalls(plan, this.lastJobs, jobFromTemplate(this.s.template, this.s.namespace, this.ctx.id));
  }

  describeApply(plan: Plan): string[] {
    return collapseRepeats(this.plan(plan).calls.map((c) => describeJobCall(c, this.jobsPath)));
  }

  async apply(plan: Plan): Promise<void> {
    const { calls, kept } = this.plan(plan);
    for (const { name, outcome } of kept) this.keep(name, outcome);
    for (const call of calls) {
      if (call.kind === 'delete') await this.deleteIfNotStarted(call);
      else await this.createJob(call.job, plan.reason);
    }
  }

  private keep(name: string, outcome: Outcome): void {
    const message = `not deleting job ${this.s.namespace}/${name}: it is ${outcome === 'running' ? 'running (scale-in never stops a running job; it leaves when its work is done)' : 'already finished'}`;
    if (this.keptRunning.has(name)) this.ctx.logger.debug(message);
    else this.ctx.logger.info(message);
    this.keptRunning.add(name);
  }

  private async createJob(body: V1Job, reason: string): Promise<void> {
    this.ctx.logger.debug(
      { call: `POST ${this.jobsPath}`, body, reason },
      describeJobCall({ kind: 'create', job: body }, this.jobsPath),
    );
    try {
      const created = await this.batch.createNamespacedJob({ namespace: this.s.namespace, body });
      this.ctx.logger.info(
        { job: created.metadata?.name },
        `created job ${this.s.namespace}/${created.metadata?.name}`,
      );
    } catch (error) {
      throw kubeError(error, this.ctx.address, `create job in ${this.s.namespace}`);
    }
  }

  /** The planned delete; on 409 (the Job changed since observe) it is re-read and decided again. */
  private async deleteIfNotStarted(first: Extract<JobCall, { kind: 'delete' }>): Promise<void> {
    let call: Extract<JobCall, { kind: 'delete' }> | undefined = first;
    for (let attempt = 0; call; attempt++) {
      const { name, resourceVersion, uid } = call;
      this.ctx.logger.debug(
        { call: `DELETE ${this.jobsPath}/${name}`, resourceVersion },
        describeJobCall(call, this.jobsPath),
      );
      try {
        await this.batch.deleteNamespacedJob({
          name,
          namespace: this.s.namespace,
          propagationPolicy: 'Background',
          body: { preconditions: { ...(resourceVersion ? { resourceVersion } : {}), ...(uid ? { uid } : {}) } },
        });
        this.ctx.logger.info(`deleted job ${this.s.namespace}/${name}, which had not started`);
        return;
      } catch (raw) {
        const error = kubeError(raw, this.ctx.address, `delete job ${this.s.namespace}/${name}`);
        if (isNotFound(error)) return;
        if (!isConflict(error) || attempt >= DELETE_RETRIES) throw error;
      }
      // The job changed since it was observed (a pod may have started): look again.
      const job = await this.readJob(name);
      if (!job) return;
      const again = planJobCalls({ add: 0, remove: [{ id: name, state: 'unknown' }] }, new Map([[name, job]]), job);
      for (const k of again.kept) this.keep(k.name, k.outcome);
      call = again.calls.find((c): c is Extract<JobCall, { kind: 'delete' }> => c.kind === 'delete');
    }
  }

  private async readJob(name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ name, namespace: this.s.namespace });
    } catch (raw) {
      const error = kubeError(raw, this.ctx.address, `get job ${this.s.namespace}/${name}`);
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Failures here are logged, not thrown: they must not block scaling. */
  private async cleanHistory(jobs: V1Job[]): Promise<void> {
    const expired = expiredJobs(
      jobs.filter((j) => !j.metadata?.deletionTimestamp),
      this.s.history_limit,
    );
    for (const job of expired) {
      const name = job.metadata?.name ?? '';
      const call = `DELETE ${this.jobsPath}/${name}?propagationPolicy=Background`;
      this.ctx.logger.debug({ call }, call);
      try {
        await this.batch.deleteNamespacedJob({
          name,
          namespace: this.s.namespace,
          propagationPolicy: 'Background',
          body: job.metadata?.uid ? { preconditions: { uid: job.metadata.uid } } : {},
        });
        job.metadata = { ...job.metadata, deletionTimestamp: new Date() };
      } catch (raw) {
        const error = kubeError(raw, this.ctx.address, `delete finished job ${this.s.namespace}/${name}`);
        if (!isNotFound(error)) this.ctx.logger.warn({ err: error.message }, 'history cleanup failed; will try again');
      }
    }
  }
}
