/**
 * Scales Kubernetes: `mode = "replicas"` sets the replicas of a Deployment, StatefulSet or
 * any resource with a /scale subresource; `mode = "jobs"` keeps one Job per unit of work
 * (CI agents that take one build each, like KEDA's ScaledJob). The two live in
 * replicas.ts and jobs.ts; this file holds the config and the wiring.
 * Errors are thrown to the reconciler, which reports and retries them.
 *
 * Those modules (and client.ts) import @kubernetes/client-node, which costs
 * about 73 MiB: create() loads them, so a config without a kubernetes scaler, and every
 * `waymond validate` or `schema`, never does (startup memory). Import nothing from them here.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { refusedFields, scalerSchema } from '../../core/schema.js';
import type { ScalerDefinition } from '../../core/types.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const historyLimit = z
  .union([
    z.number().int().nonnegative(),
    z.strictObject({
      successful: z.number().int().nonnegative().default(10).describe('Succeeded Jobs to keep.'),
      failed: z.number().int().nonnegative().default(10).describe('Failed Jobs to keep.'),
    }),
  ])
  .default(10)
  .transform((v) => (typeof v === 'number' ? { successful: v, failed: v } : v))
  .describe(
    'Finished Jobs to keep, newest first; older ones are deleted with their pods. One number applies to succeeded and failed Jobs each; or a table `{ successful = 10, failed = 10 }`.',
  );

/** How the scaler reaches the API server; the same in both modes. */
const connection = {
  kubeconfig: z
    .string()
    .optional()
    .describe(
      'Path of the kubeconfig file (relative to the config file). Default: the first file in $KUBECONFIG, else ~/.kube/config.',
    ),
  context: z.string().optional().describe("kubeconfig context to use (default: the file's current-context)."),
  in_cluster: z
    .boolean()
    .default(false)
    .describe("Use the pod's service account (token and CA mounted by Kubernetes) instead of a kubeconfig."),
  namespace: z
    .string()
    .regex(DNS_LABEL, 'expected a namespace name (lower-case letters, digits and "-")')
    .default('default')
    .describe('Namespace of the workload (replicas mode) or of the Jobs (jobs mode).'),
};

function checkConnection(
  c: { in_cluster: boolean; kubeconfig?: string | undefined; context?: string | undefined },
  ctx: z.RefinementCtx,
) {
  if (c.in_cluster && (c.kubeconfig !== undefined || c.context !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['in_cluster'],
      message: 'in_cluster = true cannot be combined with kubeconfig or context',
    });
  }
}

/** A workload's replica count has no members; nothing to check, drain or stop. */
const replicasCapabilities = { members: false, runInMember: false, stopAll: false } as const;
/** Jobs are members (only a pending one is deleted); waymond cannot run a command in a pod. */
const jobsCapabilities = { members: true, runInMember: false, stopAll: false } as const;

const replicasSchema = scalerSchema(
  'kubernetes',
  {
    mode: z
      .literal('replicas')
      .default('replicas')
      .describe(
        "`replicas` (the default): set spec.replicas of one workload through its /scale subresource. `jobs`: one Job per unit of work (desired = pending + running work), like KEDA's ScaledJob.",
      ),
    ...connection,
    api_version: z
      .string()
      .default('apps/v1')
      .describe('apiVersion of the workload, e.g. "apps/v1" or "argoproj.io/v1alpha1".'),
    kind: z
      .string()
      .regex(/^[A-Z][A-Za-z0-9]*$/, 'expected a kind like "Deployment"')
      .default('Deployment')
      .describe('Kind of the workload: Deployment, StatefulSet, ReplicaSet, or any kind with /scale.'),
    name: z.string({ error: 'replicas mode needs the name of the workload' }).min(1).describe('Name of the workload.'),
    resource: z
      .string()
      .regex(DNS_LABEL, 'expected a resource name like "rollouts"')
      .optional()
      .describe(
        'The plural resource name the API serves the kind under, when it is not the lower-cased kind plus "s" (e.g. "policies").',
      ),
  },
  replicasCapabilities,
  {
    label: 'kubernetes in replicas mode',
    why: { on_shutdown: 'a workload keeps its replicas when waymond stops' },
  },
).superRefine(checkConnection);

const jobsSchema = scalerSchema(
  'kubernetes',
  {
    mode: z
      .literal('jobs')
      .describe("`jobs`: one Job per unit of work, like KEDA's ScaledJob (desired = pending + running work)."),
    ...connection,
    job_template: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'The Job to create, as an inline table: a Job manifest (with `metadata` and `spec`) or just a JobSpec (with `template`). waymond adds the label `waymond.io/scaler=<id>` and a generated name.',
      ),
    job_template_file: z
      .string()
      .optional()
      .describe('A YAML (or JSON) file holding the Job manifest or JobSpec, instead of `job_template`.'),
    history_limit: historyLimit,
  },
  jobsCapabilities,
  {
    label: 'kubernetes in jobs mode',
    why: { on_shutdown: 'its Jobs run to the end when waymond stops' },
  },
).superRefine((c, ctx) => {
  checkConnection(c, ctx);
  if (!c.job_template === !c.job_template_file)
    ctx.addIssue({
      code: 'custom',
      path: ['job_template'],
      message: 'jobs mode needs exactly one of job_template or job_template_file',
    });
  if (!LABEL_VALUE.test(c.id) || c.id.length > 63)
    ctx.addIssue({
      code: 'custom',
      path: ['id'],
      message: `jobs mode labels Jobs with the id, so it must be a valid label value (start and end with a letter or digit, at most 63 characters), found "${c.id}"`,
    });
});

// A field of the other mode is an error naming its mode (config/switch-fields.ts); `name`
// also says where a Job's name goes.
refusedFields.add(jobsSchema, {
  refused: {
    ...refusedFields.get(jobsSchema)?.refused,
    name: 'name is for replicas mode; in jobs mode name Jobs with job_template.metadata.name',
  },
});

const schema = z.discriminatedUnion('mode', [replicasSchema, jobsSchema]);

type JobsConfig = z.output<typeof jobsSchema>;

/** The template as given or read from its file; both shapes are checked here, once. */
function loadTemplate(config: JobsConfig, address: string, configDir: string): Record<string, unknown> {
  let template: unknown = config.job_template;
  let from = 'job_template';
  if (config.job_template_file) {
    const file = isAbsolute(config.job_template_file)
      ? config.job_template_file
      : resolve(configDir, config.job_template_file);
    from = file;
    try {
      // yaml loads only here, so a config without a job template file (and `validate`) never loads it.
      const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
      template = yaml.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new Error(
        `${address}: could not read job_template_file ${file}: ${(error as Error).message.split('\n')[0]}`,
      );
    }
  }
  if (typeof template !== 'object' || template === null || Array.isArray(template))
    throw new Error(`${address}: ${from} must be a Job manifest or a JobSpec (a mapping), found ${typeof template}`);
  const t = template as Record<string, unknown>;
  if (t.kind !== undefined && (t.kind !== 'Job' || (t.apiVersion ?? 'batch/v1') !== 'batch/v1'))
    throw new Error(
      `${address}: ${from} must describe a batch/v1 Job, found ${String(t.apiVersion)} ${String(t.kind)}`,
    );
  const spec = ('spec' in t ? t.spec : t) as Record<string, unknown> | undefined;
  if (typeof spec?.template !== 'object' || spec.template === null)
    throw new Error(`${address}: ${from} has no pod template (spec.template in a Job manifest, template in a JobSpec)`);
  const namespace = ((t.metadata ?? {}) as Record<string, unknown>).namespace;
  if ('spec' in t && namespace !== undefined && namespace !== config.namespace)
    throw new Error(
      `${address}: ${from} sets metadata.namespace "${String(namespace)}" but the scaler's namespace is "${config.namespace}"`,
    );
  return t;
}

export const kubernetes: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'kubernetes',
  // The most either mode can do (jobs mode); each mode's schema offers only its own options.
  capabilities: jobsCapabilities,
  summary:
    'Scales a Deployment, StatefulSet or any /scale resource (mode "replicas"), or keeps one Job per unit of work like KEDA\'s ScaledJob (mode "jobs").',
  schema,
  example: `[[scaler]]
type = "kubernetes"
id = "ci-agents"
mode = "jobs"
namespace = "ci"
max = 20
history_limit = { successful = 5, failed = 20 }
[scaler.job_template.metadata]
name = "buildkite-agent"
[scaler.job_template.spec]
backoffLimit = 0
[scaler.job_template.spec.template.spec]
restartPolicy = "Never"
[[scaler.job_template.spec.template.spec.containers]]
name = "agent"
image = "buildkite/agent:3"
args = ["start", "--disconnect-after-job"]`,
  async create(config, ctx) {
    const { loadKubeConfig } = await import('./client.js');
    const kc = loadKubeConfig(config, ctx.address, ctx.configDir);
    if (config.mode === 'replicas') {
      const { ReplicasTarget } = await import('./replicas.js');
      const { namespace, api_version, kind, name, resource } = config;
      return new ReplicasTarget(kc, { namespace, api_version, kind, name, resource }, ctx);
    }
    const template = loadTemplate(config, ctx.address, ctx.configDir);
    const { JobsTarget } = await import('./jobs.js');
    return new JobsTarget(kc, { namespace: config.namespace, template, history_limit: config.history_limit }, ctx);
  },
};
