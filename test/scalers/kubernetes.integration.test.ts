/**
 * The kubernetes scaler against a local server that answers as the Kubernetes API documents
 * (test/fixtures/kube-api.ts), through the real @kubernetes/client-node and a kubeconfig on
 * disk: the conformance suite in both modes, then the cases particular to Kubernetes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { parse as parseToml } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { EventBus } from '../../src/core/bus.js';
import { RealClock } from '../../src/core/clock.js';
import { createComponentContext } from '../../src/core/context.js';
import type { Reconciler, ReconcilerSettings } from '../../src/core/reconciler.js';
import type { Scaler } from '../../src/core/types.js';
import { wireScaler } from '../../src/core/wire-scaler.js';
import { componentJsonSchema, renderReference } from '../../src/docs/reference.js';
import { mergeBranches } from '../../src/docs/switch-table.js';
import { defaultRegistry } from '../../src/registry.js';
import { kubernetes } from '../../src/scalers/kubernetes/scaler.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { FakeKubeApi, kubeFixture } from '../fixtures/kube-api.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const JOB_TEMPLATE = join(HERE, '..', 'fixtures', 'kube', 'job-template.yaml');

async function startApi(): Promise<{ api: FakeKubeApi; kubeconfig: string; dir: string }> {
  const api = await new FakeKubeApi().start();
  api.put(kubeFixture('deployment.json'));
  api.put(kubeFixture('statefulset.json'));
  api.put(kubeFixture('widget.json'));
  const dir = mkdtempSync(join(tmpdir(), 'waymond-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig(), { mode: 0o600 });
  return { api, kubeconfig, dir };
}

function unfinishedJobs(api: FakeKubeApi, id: string): Record<string, unknown>[] {
  return api.list('Job', 'ci').filter((job) => {
    const meta = job.metadata as { labels?: Record<string, string> };
    const status = (job.status ?? {}) as { conditions?: { type: string; status: string }[] };
    const finished = (status.conditions ?? []).some(
      (c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True',
    );
    return meta.labels?.['waymond.io/scaler'] === id && !finished;
  });
}

describeScalerConformance({
  name: 'kubernetes_replicas',
  async setup() {
    const { api, kubeconfig, dir } = await startApi();
    api.setReplicas('Deployment', 'ci', 'web', 0);
    const replicas = () => Number(((api.get('Deployment', 'ci', 'web')?.spec ?? {}) as { replicas?: number }).replicas);
    return {
      definition: kubernetes,
      config: { kubeconfig, namespace: 'ci', kind: 'Deployment', name: 'web' },
      countOnTarget: async () => replicas(),
      // spec.replicas has no members waymond sees.
      membersOnTarget: async () => [],
      removeOneBehindBack: async () => api.setReplicas('Deployment', 'ci', 'web', replicas() - 1),
      breakTarget: async () => {
        api.failAll(500);
        return async () => api.heal();
      },
      cleanup: async () => {
        api.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

const nameOf = (job: Record<string, unknown> | undefined) =>
  String((job?.metadata as { name?: string } | undefined)?.name);

describeScalerConformance({
  name: 'kubernetes_jobs',
  async setup(id) {
    const { api, kubeconfig, dir } = await startApi();
    return {
      definition: kubernetes,
      config: { kubeconfig, namespace: 'ci', mode: 'jobs', job_template_file: JOB_TEMPLATE, history_limit: 0 },
      countOnTarget: async () => unfinishedJobs(api, id).length,
      membersOnTarget: async () => unfinishedJobs(api, id).map(nameOf),
      // A finished Job beyond history_limit = 0: housekeeping would delete it.
      leaveLitter: async () => {
        const name = `done-${id}`.replace(/_/g, '-');
        api.put({
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name, namespace: 'ci', labels: { 'waymond.io/scaler': id } },
          spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'busybox' }] } } },
          status: {},
        });
        api.finishJob('ci', name, 'Complete');
        return async () => api.list('Job', 'ci').some((j) => nameOf(j) === name);
      },
      removeOneBehindBack: async () => {
        const [first] = unfinishedJobs(api, id);
        api.remove('Job', 'ci', nameOf(first));
      },
      breakTarget: async () => {
        api.failAll(401);
        return async () => api.heal();
      },
      cleanup: async () => {
        api.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

interface Harness {
  scaler: Scaler;
  reconciler: Reconciler;
  logs: { level: number; msg: string }[];
  close(): Promise<void>;
}

let api: FakeKubeApi;
let kubeconfig: string;
let dir: string;
const open: Harness[] = [];

async function harness(
  id: string,
  config: Record<string, unknown>,
  options: { dryRun?: boolean } = {},
): Promise<Harness> {
  const logs: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        logs.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const clock = new RealClock();
  const bus = new EventBus(clock, logger);
  const store = new SqliteStore(':memory:');
  const parsed = kubernetes.schema.parse({
    type: 'kubernetes',
    id,
    kubeconfig,
    namespace: 'ci',
    retry_initial: '50ms',
    ...config,
  });
  const ctx = createComponentContext(
    'scaler',
    id,
    {
      clock,
      bus,
      store,
      logger,
      http: { route: () => undefined },
      scalers: { get: () => undefined },
      signal: new AbortController().signal,
      stateDir: dir,
      configDir: dir,
      dryRun: options.dryRun ?? false,
    },
    { hasInput: true },
  );
  const scaler = await kubernetes.create(parsed, ctx);
  const { reconciler } = wireScaler({
    address: `scaler.${id}`,
    scaler,
    settings: parsed as unknown as ReconcilerSettings,
    clock,
    bus,
    store,
    logger: ctx.logger,
    dryRun: options.dryRun ?? false,
  });
  const h: Harness = {
    scaler,
    reconciler,
    logs,
    async close() {
      await reconciler.stop(1000);
      store.close();
    },
  };
  open.push(h);
  return h;
}

function jobNames(id: string): string[] {
  return unfinishedJobs(api, id).map((j) => String((j.metadata as { name: string }).name));
}

describe('kubernetes scaler', () => {
  beforeAll(async () => {
    ({ api, kubeconfig, dir } = await startApi());
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    api.heal();
    api.requests.length = 0;
  });
  afterAll(() => api.stop());

  it('the example in the definition validates', () => {
    const parsed = parseToml(kubernetes.example) as { scaler: Record<string, unknown>[] };
    const config = kubernetes.schema.parse(parsed.scaler[0]);
    expect(config.mode).toBe('jobs');
    expect(config).toMatchObject({ mode: 'jobs', history_limit: { successful: 5, failed: 20 } });
  });

  it('is registered, documents every field, and its example and examples/kubernetes.toml validate', () => {
    const registry = defaultRegistry();
    expect(registry.get('scaler', 'kubernetes')).toBe(kubernetes);
    const schema = mergeBranches(componentJsonSchema(kubernetes));
    expect(schema.properties?.mode?.enum).toEqual(['replicas', 'jobs']);
    expect(Object.entries(schema.properties ?? {}).filter(([k, f]) => k !== 'type' && !f.description)).toEqual([]);
    expect(renderReference(registry)).toContain('kubernetes');
    const example = loadConfigText(kubernetes.example, '/tmp/example.toml', registry, {});
    expect(example.ok ? [] : example.issues.map(formatIssue)).toEqual([]);
    const file = loadConfigFile(join(HERE, '..', '..', 'examples', 'kubernetes.toml'), registry, {
      BUILDKITE_TOKEN: 'x',
    });
    expect(file.ok ? [] : file.issues.map(formatIssue)).toEqual([]);
  });

  it('history_limit as one number applies to succeeded and failed jobs each', () => {
    const config = kubernetes.schema.parse({
      type: 'kubernetes',
      id: 'a',
      mode: 'jobs',
      job_template_file: 'x.yaml',
      history_limit: 3,
    });
    expect(config).toMatchObject({ mode: 'jobs', history_limit: { successful: 3, failed: 3 } });
  });

  it('rejects a replicas config without a name and a jobs config without a template', () => {
    const noName = kubernetes.schema.safeParse({ type: 'kubernetes', id: 'a' });
    expect(noName.error?.issues.map((i) => i.message)).toContain('replicas mode needs the name of the workload');
    const noTemplate = kubernetes.schema.safeParse({ type: 'kubernetes', id: 'a', mode: 'jobs' });
    expect(noTemplate.error?.issues.map((i) => i.message)).toContain(
      'jobs mode needs exactly one of job_template or job_template_file',
    );
  });

  it('scales through the /scale subresource with a PUT that carries the resourceVersion it read', async () => {
    const h = await harness('web', { name: 'web' });
    const result = await h.reconciler.reconcileNow(4, {});
    expect(result.outcome).toBe('ok');
    const put = api.requests.find((r) => r.method === 'PUT');
    expect(put?.path).toBe('/apis/apps/v1/namespaces/ci/deployments/web/scale');
    expect(put?.contentType).toBe('application/json');
    expect(put?.body).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', spec: { replicas: 4 } });
    expect((put?.body as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion).toMatch(
      /^\d+$/,
    );
    expect(
      h.logs.some(
        (l) =>
          l.level === 20 && l.msg.startsWith('PUT /apis/apps/v1/namespaces/ci/deployments/web/scale spec.replicas=4'),
      ),
    ).toBe(true);
    expect(await h.scaler.observe({})).toEqual({ count: 4, ready: 4 });
  });

  it('the fake API takes patches in the content type the client sends, and rejects a mismatched one', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const apps = kc.makeApiClient(AppsV1Api);
    const ref = { name: 'db', namespace: 'ci' };
    // client-node v1 sends application/json-patch+json unless told otherwise: an object is not a JSON patch.
    await expect(
      apps.patchNamespacedStatefulSetScale({ ...ref, body: { spec: { replicas: 2 } } }),
    ).rejects.toMatchObject({ code: 400 });
    const merged = await apps.patchNamespacedStatefulSetScale(
      { ...ref, body: { spec: { replicas: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.spec?.replicas).toBe(2);
    const patched = await apps.patchNamespacedStatefulSetScale({
      ...ref,
      body: [{ op: 'replace', path: '/spec/replicas', value: 1 }],
    });
    expect(patched.spec?.replicas).toBe(1);
    expect(api.requests.filter((r) => r.method === 'PATCH').map((r) => [r.contentType, r.status])).toEqual([
      ['application/json-patch+json', 400],
      ['application/merge-patch+json', 200],
      ['application/json-patch+json', 200],
    ]);
  });

  it('reports ready replicas from the workload status while a rollout is in progress', async () => {
    api.holdReady.add('db');
    try {
      const h = await harness('db', { kind: 'StatefulSet', name: 'db' });
      expect((await h.reconciler.reconcileNow(3, {})).outcome).toBe('ok');
      expect(await h.scaler.observe({})).toEqual({ count: 3, ready: 1 });
    } finally {
      api.holdReady.delete('db');
    }
  });

  it('scales any resource with a /scale subresource (a custom resource) and reads ready from the scale status', async () => {
    const h = await harness('gadget', { api_version: 'example.com/v1', kind: 'Widget', name: 'gadget' });
    expect((await h.reconciler.reconcileNow(5, {})).outcome).toBe('ok');
    expect(
      api.requests.some(
        (r) => r.method === 'PUT' && r.path === '/apis/example.com/v1/namespaces/ci/widgets/gadget/scale',
      ),
    ).toBe(true);
    expect(await h.scaler.observe({})).toEqual({ count: 5, ready: 5 });
  });

  it('409 Conflict: re-reads the scale and writes again, once or twice, then gives up to the reconciler', async () => {
    const h = await harness('web', { name: 'web' });
    api.interfereWithNextWrites(1);
    expect((await h.reconciler.reconcileNow(6, {})).outcome).toBe('ok');
    expect(api.requests.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([409, 200]);
    expect(((api.get('Deployment', 'ci', 'web')?.spec ?? {}) as { replicas: number }).replicas).toBe(6);

    api.requests.length = 0;
    api.interfereWithNextWrites(10);
    const failed = await h.reconciler.reconcileNow(7, {});
    await h.reconciler.stop(1000);
    api.interfereWithNextWrites(0);
    expect(failed.outcome).toBe('error');
    expect(failed.error).toContain(
      '409 Conflict: Operation cannot be fulfilled on deployments.apps "web": the object has been modified',
    );
    expect(api.requests.filter((r) => r.method === 'PUT')).toHaveLength(3);
  });

  it('warns once when a HorizontalPodAutoscaler targets the same workload', async () => {
    api.put(kubeFixture('hpa.json'));
    try {
      const h = await harness('web', { name: 'web' });
      await h.scaler.observe({});
      await h.scaler.observe({});
      const warnings = h.logs.filter(
        (l) => l.level === 40 && l.msg.includes('HorizontalPodAutoscaler ci/web also scales Deployment ci/web'),
      );
      expect(warnings).toHaveLength(1);
    } finally {
      api.remove('HorizontalPodAutoscaler', 'ci', 'web');
    }
  });

  it('carries on without the HPA check when RBAC does not allow listing HPAs', async () => {
    api.deny('list', 'horizontalpodautoscalers');
    const h = await harness('web', { name: 'web' });
    expect((await h.scaler.observe({})).count).toBeGreaterThanOrEqual(0);
    expect(h.logs.some((l) => l.msg.startsWith('cannot check for a HorizontalPodAutoscaler'))).toBe(true);
  });

  it('404: a deployment that does not exist is an error naming the address, kind, namespace and name', async () => {
    const h = await harness('ghost', { name: 'nope' });
    const result = await h.reconciler.reconcileNow(2, {});
    await h.reconciler.stop(1000);
    expect(result.outcome).toBe('error');
    expect(result.error).toBe(
      'scaler.ghost: Deployment ci/nope (apps/v1) does not exist or has no /scale subresource (404 NotFound: deployments.apps "nope" not found)',
    );
  });

  it('401 and 403: errors carry the API message and never the token', async () => {
    const h = await harness('web', { name: 'web' });
    api.failAll(401);
    const unauthorized = await h.reconciler.reconcileNow(2, {});
    await h.reconciler.stop(1000);
    api.heal();
    expect(unauthorized.error).toBe(
      'scaler.web: get /apis/apps/v1/namespaces/ci/deployments/web/scale failed: 401 Unauthorized: the credentials in the kubeconfig were rejected',
    );
    expect(unauthorized.error).not.toContain(api.token);

    api.deny('update', 'deployments/scale');
    const h2 = await harness('web', { name: 'web' });
    const forbidden = await h2.reconciler.reconcileNow(9, {});
    expect(forbidden.error).toContain(
      '403 Forbidden: deployments.apps "web" is forbidden: User "system:serviceaccount:ci:waymond" cannot update resource "deployments/scale" in API group "apps" in the namespace "ci"',
    );
  });

  it('5xx: an error the reconciler retries until the API recovers', async () => {
    const h = await harness('web', { name: 'web' });
    api.failAll(500);
    const failed = await h.reconciler.reconcileNow(8, {});
    expect(failed.error).toContain('500 InternalError: Internal error occurred: etcdserver: request timed out');
    api.heal();
    const deadline = Date.now() + 5000;
    while (
      ((api.get('Deployment', 'ci', 'web')?.spec ?? {}) as { replicas: number }).replicas !== 8 &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(((api.get('Deployment', 'ci', 'web')?.spec ?? {}) as { replicas: number }).replicas).toBe(8);
  });

  describe('jobs mode', () => {
    const jobs = (extra: Record<string, unknown> = {}) => ({
      mode: 'jobs',
      job_template_file: JOB_TEMPLATE,
      ...extra,
    });

    it('creates one labelled Job per missing unit from the template and counts pending and running ones', async () => {
      const h = await harness('agents1', jobs());
      expect((await h.reconciler.reconcileNow(2, {})).outcome).toBe('ok');
      const created = api
        .list('Job', 'ci')
        .filter((j) => (j.metadata as { labels: Record<string, string> }).labels['waymond.io/scaler'] === 'agents1');
      expect(created).toHaveLength(2);
      const first = created[0] as {
        metadata: { name: string; labels: Record<string, string> };
        spec: { template: { metadata: { labels: Record<string, string> } } };
      };
      expect(first.metadata.name).toMatch(/^buildkite-agent-[a-z0-9]{5}$/);
      expect(first.metadata.labels.app).toBe('buildkite-agent');
      expect(first.spec.template.metadata.labels['waymond.io/scaler']).toBe('agents1');
      api.startJob('ci', first.metadata.name);
      const observed = await h.scaler.observe({});
      expect(observed.count).toBe(2);
      expect(observed.ready).toBe(1);
      expect(observed.members?.find((m) => m.id === first.metadata.name)?.state).toBe('running');
    });

    it('scale-in never deletes a running Job, and deletes only the ones that have not started', async () => {
      const h = await harness('agents2', jobs());
      await h.reconciler.reconcileNow(3, {});
      const [running, ...pending] = jobNames('agents2');
      api.startJob('ci', running as string);
      expect((await h.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
      expect(jobNames('agents2')).toEqual([running]);
      const deletes = api.requests.filter((r) => r.method === 'DELETE');
      expect(deletes.map((r) => r.path.split('/').pop()).sort()).toEqual([...pending].sort());
      expect(deletes.every((r) => r.query.propagationPolicy === 'Background')).toBe(true);
      expect(h.logs.some((l) => l.msg.startsWith(`not deleting job ci/${running}: it is running`))).toBe(true);
    });

    it('a Job that starts between observe and apply is not deleted (resourceVersion precondition, 409)', async () => {
      const h = await harness('agents3', jobs());
      await h.reconciler.reconcileNow(1, {});
      const observed = await h.scaler.observe({});
      const [name] = jobNames('agents3');
      api.startJob('ci', name as string);
      await h.scaler.apply({ desired: 0, observed, add: 0, remove: observed.members ?? [], data: {}, reason: 'test' });
      expect(jobNames('agents3')).toEqual([name]);
      expect(api.requests.filter((r) => r.method === 'DELETE').map((r) => r.status)).toEqual([409]);
    });

    it('deletes finished Jobs beyond the history limits, newest kept, with their pods', async () => {
      const h = await harness('agents4', jobs({ history_limit: { successful: 1, failed: 2 } }));
      await h.reconciler.reconcileNow(6, {});
      const names = jobNames('agents4');
      const t = Date.now();
      for (const [i, n] of names.slice(0, 3).entries())
        api.finishJob('ci', n, 'Complete', new Date(t - 60_000 * (3 - i)));
      for (const [i, n] of names.slice(3, 6).entries())
        api.finishJob('ci', n, 'Failed', new Date(t - 60_000 * (3 - i)));
      api.requests.length = 0;
      expect((await h.scaler.observe({})).count).toBe(0);
      expect(api.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
      await h.scaler.housekeep?.({});
      const left = api
        .list('Job', 'ci')
        .filter((j) => (j.metadata as { labels: Record<string, string> }).labels['waymond.io/scaler'] === 'agents4');
      expect(left.map((j) => (j.metadata as { name: string }).name).sort()).toEqual(
        [names[2], names[4], names[5]].sort(),
      );
      const deletes = api.requests.filter((r) => r.method === 'DELETE');
      expect(deletes).toHaveLength(3);
      expect(deletes.every((r) => r.query.propagationPolicy === 'Background' && r.status === 200)).toBe(true);
    });

    it('dry run: decides and logs, but creates and deletes nothing (finished Jobs stay too)', async () => {
      const h = await harness('agents5', jobs({ history_limit: 0 }));
      await h.reconciler.reconcileNow(1, {});
      const finished = jobNames('agents5')[0] as string;
      api.finishJob('ci', finished, 'Complete');
      await h.close();
      api.requests.length = 0;
      const dry = await harness('agents5', jobs({ history_limit: 0 }), { dryRun: true });
      const result = await dry.reconciler.reconcileNow(3, {});
      expect(result.outcome).toBe('dry_run');
      expect(result.reason).toMatch(
        /dry run, would call: POST \/apis\/batch\/v1\/namespaces\/ci\/jobs \(Job from job_template, generateName \S+\) x3$/,
      );
      expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      // History cleanup is housekeeping, which a dry run skips: the finished Job is still there.
      expect(api.list('Job', 'ci').filter((j) => (j.metadata as { name: string }).name === finished)).toHaveLength(1);
    });

    it("an invalid template is the API's 422 message, naming the field", async () => {
      const h = await harness('agents6', {
        mode: 'jobs',
        job_template: { template: { spec: { containers: [{ name: 'a', image: 'busybox' }] } } },
      });
      const result = await h.reconciler.reconcileNow(1, {});
      expect(result.outcome).toBe('error');
      expect(result.error).toContain('scaler.agents6: create job in ci failed: 422 Invalid: Job.batch "agents6-');
      expect(result.error).toContain(
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"',
      );
    });
  });
});
