/**
 * `mode = "replicas"`: one workload's `spec.replicas`, read and written only through its
 * `/scale` subresource (so RBAC can grant exactly `deployments/scale` and nothing else).
 * Writes are PUTs carrying the resourceVersion just read: if someone else changed the
 * workload meanwhile, the API answers 409 and the scale is re-read and written again (at
 * most twice more); a blind write could undo another actor's change without anyone knowing.
 * The PUT comes from planScaleCalls(), which a dry run lists too.
 *
 * Loaded by scaler.ts's create(), never imported by a component definition: it imports
 * @kubernetes/client-node at module level, which costs about 73 MiB (startup memory).
 */
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Scale,
} from '@kubernetes/client-node';
import type { ComponentContext, Observation, Plan } from '../../core/types.js';
import { isConflict, isNotFound, kubeError } from './client.js';

export interface ReplicasSettings {
  namespace: string;
  api_version: string;
  kind: string;
  name: string;
  resource?: string | undefined;
}

/** Read and write of one scale subresource, whichever API group serves it. */
interface ScaleAccess {
  /** `GET .../scale` as a path, for logs and messages. */
  path: string;
  read(): Promise<V1Scale>;
  replace(body: V1Scale): Promise<V1Scale>;
  /** Ready replicas from the workload's own status (apps/v1 and core kinds). */
  readyReplicas?(): Promise<number>;
}

/** Lower-case plural the API serves a kind under (Widget → widgets, Policy → policies). */
export function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  return `${lower}s`;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The client returns custom-resource scales untyped; take only what we read. */
function asScale(value: unknown): V1Scale {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const spec = (v.spec ?? {}) as Record<string, unknown>;
  const status = (v.status ?? {}) as Record<string, unknown>;
  const metadata = (v.metadata ?? {}) as Record<string, unknown>;
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      ...(typeof metadata.name === 'string' ? { name: metadata.name } : {}),
      ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
      ...(typeof metadata.resourceVersion === 'string' ? { resourceVersion: metadata.resourceVersion } : {}),
    },
    spec: typeof spec.replicas === 'number' ? { replicas: spec.replicas } : {},
    status: {
      replicas: typeof status.replicas === 'number' ? status.replicas : 0,
      ...(typeof status.selector === 'string' ? { selector: status.selector } : {}),
    },
  };
}

function scaleAccess(kc: KubeConfig, s: ReplicasSettings): ScaleAccess {
  const { group, version } = splitApiVersion(s.api_version);
  const plural = s.resource ?? pluralOf(s.kind);
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const path = `${base}/namespaces/${s.namespace}/${plural}/${s.name}/scale`;
  const ref = { name: s.name, namespace: s.namespace };
  if (s.api_version === 'apps/v1' && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(s.kind)) {
    const apps = kc.makeApiClient(AppsV1Api);
    if (s.kind === 'Deployment')
      return {
        path,
        read: () => apps.readNamespacedDeploymentScale(ref),
        replace: (body) => apps.replaceNamespacedDeploymentScale({ ...ref, body }),
        readyReplicas: async () => (await apps.readNamespacedDeployment(ref)).status?.readyReplicas ?? 0,
      };
    if (s.kind === 'StatefulSet')
      return {
        path,
        read: () => apps.readNamespacedStatefulSetScale(ref),
        replace: (body) => apps.replaceNamespacedStatefulSetScale({ ...ref, body }),
        readyReplicas: async () => (await apps.readNamespacedStatefulSet(ref)).status?.readyReplicas ?? 0,
      };
    return {
      path,
      read: () => apps.readNamespacedReplicaSetScale(ref),
      replace: (body) => apps.replaceNamespacedReplicaSetScale({ ...ref, body }),
      readyReplicas: async () => (await apps.readNamespacedReplicaSet(ref)).status?.readyReplicas ?? 0,
    };
  }
  if (s.api_version === 'v1' && s.kind === 'ReplicationController') {
    const core = kc.makeApiClient(CoreV1Api);
    return {
      path,
      read: () => core.readNamespacedReplicationControllerScale(ref),
      replace: (body) => core.replaceNamespacedReplicationControllerScale({ ...ref, body }),
      readyReplicas: async () => (await core.readNamespacedReplicationController(ref)).status?.readyReplicas ?? 0,
    };
  }
  // Anything else with a /scale subresource (a CRD like Argo Rollouts or a KEDA-less operator).
  const custom = kc.makeApiClient(CustomObjectsApi);
  const cref = { group, version, plural, namespace: s.namespace, name: s.name };
  return {
    path,
    read: async () => asScale(await custom.getNamespacedCustomObjectScale(cref)),
    replace: async (body) => asScale(await custom.replaceNamespacedCustomObjectScale({ ...cref, body })),
  };
}

/** The one call of a replicas-mode apply: PUT the scale carrying the resourceVersion read. */
export interface ScaleCall {
  kind: 'replace';
  body: V1Scale;
}

/**
 * What `apply` calls to move the scale last read to `desired`; pure, so a dry run lists
 * exactly this. Nothing when spec.replicas is already there.
 */
export function planScaleCalls(
  desired: number,
  scale: V1Scale | undefined,
  s: Pick<ReplicasSettings, 'name' | 'namespace'>,
): ScaleCall[] {
  if (scale?.spec?.replicas === desired) return [];
  const resourceVersion = scale?.metadata?.resourceVersion;
  return [
    {
      kind: 'replace',
      body: {
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: { name: s.name, namespace: s.namespace, ...(resourceVersion ? { resourceVersion } : {}) },
        spec: { replicas: desired },
      },
    },
  ];
}

export function describeScaleCall(call: ScaleCall, path: string): string {
  const version = call.body.metadata?.resourceVersion;
  return `PUT ${path} spec.replicas=${call.body.spec?.replicas}${version ? ` (resourceVersion ${version})` : ''}`;
}

/** How often the HPA check runs again (an HPA may be added later). */
const HPA_CHECK_INTERVAL_MS = 5 * 60_000;
const CONFLICT_RETRIES = 2;

export class ReplicasTarget {
  private readonly access: ScaleAccess;
  private readonly autoscaling: AutoscalingV2Api;
  private readonly target: string;
  private lastScale: V1Scale | undefined;
  private nextHpaCheck = 0;
  private readonly warnedHpas = new Set<string>();
  private hpaCheckUnavailable = false;

  constructor(
    kc: KubeConfig,
    private readonly s: ReplicasSettings,
    private readonly ctx: ComponentContext,
  ) {
    this.access = scaleAccess(kc, s);
    this.autoscaling = kc.makeApiClient(AutoscalingV2Api);
    this.target = `${s.kind} ${s.namespace}/${s.name}`;
  }

  async observe(): Promise<Observation> {
    const scale = await this.readScale();
    this.lastScale = scale;
    const count = scale.spec?.replicas ?? 0;
    let ready = scale.status?.replicas ?? 0;
    if (this.access.readyReplicas) {
      try {
        ready = await this.access.readyReplicas();
      } catch (error) {
        throw kubeError(error, this.ctx.address, `get ${this.target}`);
      }
    }
    await this.checkHpa();
    // During a scale-down the old pods are still ready; what counts is toward the spec.
    return { count, ready: Math.min(ready, count) };
  }

  describeApply(plan: Plan): string[] {
    return planScaleCalls(plan.desired, this.lastScale, this.s).map((c) => describeScaleCall(c, this.access.path));
  }

  async apply(plan: Plan): Promise<void> {
    let scale = this.lastScale ?? (await this.readScale());
    for (let attempt = 0; ; attempt++) {
      const [call] = planScaleCalls(plan.desired, scale, this.s);
      if (!call) return;
      this.ctx.logger.debug(
        { call: `PUT ${this.access.path}`, body: call.body, reason: plan.reason },
        describeScaleCall(call, this.access.path),
      );
      try {
        this.lastScale = await this.access.replace(call.body);
        this.ctx.logger.info(
          { from: scale.spec?.replicas, to: plan.desired },
          `scaled ${this.target} to ${plan.desired} replicas`,
        );
        return;
      } catch (raw) {
        const error = kubeError(raw, this.ctx.address, `update ${this.access.path}`);
        if (!isConflict(error) || attempt >= CONFLICT_RETRIES) throw error;
        this.ctx.logger.info(
          { attempt: attempt + 1 },
          `${this.target} changed while scaling (409 Conflict); re-reading and retrying`,
        );
        scale = await this.readScale();
      }
    }
  }

  private async readScale(): Promise<V1Scale> {
    try {
      return await this.access.read();
    } catch (raw) {
      const error = kubeError(raw, this.ctx.address, `get ${this.access.path}`);
      if (isNotFound(error)) {
        throw new Error(
          `${this.ctx.address}: ${this.target} (${this.s.api_version}) does not exist or has no /scale subresource (${error.detail})`,
        );
      }
      throw error;
    }
  }

  /** Two autoscalers on one spec.replicas fight forever; say so once per HPA. */
  private async checkHpa(): Promise<void> {
    const now = this.ctx.clock.now();
    if (now < this.nextHpaCheck) return;
    this.nextHpaCheck = now + HPA_CHECK_INTERVAL_MS;
    let items: Awaited<ReturnType<AutoscalingV2Api['listNamespacedHorizontalPodAutoscaler']>>['items'];
    try {
      items = (await this.autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: this.s.namespace })).items;
    } catch (raw) {
      if (!this.hpaCheckUnavailable) {
        this.hpaCheckUnavailable = true;
        this.ctx.logger.info(
          { err: kubeError(raw, this.ctx.address, 'list horizontalpodautoscalers').message },
          'cannot check for a HorizontalPodAutoscaler on the same target; continuing without the check',
        );
      }
      return;
    }
    const { group } = splitApiVersion(this.s.api_version);
    for (const hpa of items) {
      const ref = hpa.spec?.scaleTargetRef;
      if (!ref || ref.kind !== this.s.kind || ref.name !== this.s.name) continue;
      if (ref.apiVersion && splitApiVersion(ref.apiVersion).group !== group) continue;
      const name = `${this.s.namespace}/${hpa.metadata?.name ?? '?'}`;
      if (this.warnedHpas.has(name)) continue;
      this.warnedHpas.add(name);
      this.ctx.logger.warn(
        { hpa: name, target: this.target },
        `HorizontalPodAutoscaler ${name} also scales ${this.target}: it and waymond will overwrite each other's spec.replicas; remove one of them`,
      );
    }
  }
}
