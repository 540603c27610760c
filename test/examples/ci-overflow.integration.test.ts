/**
 * examples/ci-overflow.toml through the real engine, changed only where it points at the
 * world: Buildkite (the metrics API test server), the big VM (a real systemd 252 in a
 * container, over its real sshd), AWS (the Auto Scaling API test server) and Kubernetes
 * (the API test server). The poll interval, the scale-down window and the timeouts are
 * shortened.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../../src/core/clock.js';
import { type RunningEngine, runEngine } from '../connectors/run-engine.js';
import { type AwsApi, startAwsApi } from '../fixtures/aws-api.js';
import { type BuildkiteApi, startBuildkiteApi } from '../fixtures/buildkite-api.js';
import { FakeKubeApi } from '../fixtures/kube-api.js';
import { useTestAwsCredentials } from '../helpers/aws-env.js';
import { waitUntil } from '../helpers/scaler-harness.js';
import { type SystemdHost, type SystemdLab, startSystemdLab } from '../peers/systemd/lab.js';

const EXAMPLE = readFileSync(new URL('../../examples/ci-overflow.toml', import.meta.url), 'utf8');
const TOKEN = 'bkua_ci_overflow_token';
const GROUP = 'buildkite-build-overflow';
const port = 23_600 + (process.pid % 300);

function replaceIn(text: string, from: string, to: string, all = false): string {
  const out = all ? text.replaceAll(from, to) : text.replace(from, to);
  if (out === text) throw new Error(`examples/ci-overflow.toml changed: "${from}" is not in it; update this test`);
  return out;
}

function pointed(o: {
  buildkite: string;
  aws: string;
  kubeconfig: string;
  lab: SystemdLab;
  host: SystemdHost;
}): string {
  let t = EXAMPLE;
  t = replaceIn(
    t,
    'token_env = "BUILDKITE_AGENT_TOKEN"\ninterval = "15s"',
    `token_env = "BUILDKITE_AGENT_TOKEN"\ninterval = "1s"\nendpoint = "${o.buildkite}"`,
    true,
  );
  t = replaceIn(t, 'stabilization_window = "2m"', 'stabilization_window = "0s"', true);
  t = replaceIn(
    t,
    'hosts = [{ host = "big-vm.internal", user = "root", key_file = "keys/waymond_ed25519" }]',
    `hosts = [{ host = "127.0.0.1", port = ${o.host.port}, user = "root", key_file = "${o.lab.clientKey}" }]\nconnect_timeout = "3s"`,
  );
  t = replaceIn(t, 'known_hosts = "keys/known_hosts"', `known_hosts = "${o.lab.knownHosts}"`);
  t = replaceIn(t, 'stop_timeout = "1m"', 'stop_timeout = "5s"\nresync_interval = "2s"');
  t = replaceIn(t, 'region = "eu-west-1"', `region = "eu-west-1"\nendpoint = "${o.aws}"`);
  t = replaceIn(t, 'namespace = "ci"\nmax = 10', `namespace = "ci"\nmax = 10\nkubeconfig = "${o.kubeconfig}"`);
  return t;
}

function metrics(build: number, deploy: number): Record<string, unknown> {
  const q = (n: number) => ({ scheduled: n, running: 0, waiting: 0, total: n });
  return {
    agents: { queues: {} },
    jobs: { queues: { build: q(build), deploy: q(deploy) } },
    organization: { slug: 'waymond-test' },
  };
}

describe('examples/ci-overflow.toml end to end', () => {
  let lab: SystemdLab | undefined;
  let buildkite: BuildkiteApi;
  let aws: AwsApi;
  let kube: FakeKubeApi;
  let run: RunningEngine | undefined;
  let restoreAws: () => void;
  const savedToken = process.env.BUILDKITE_AGENT_TOKEN;

  beforeAll(async () => {
    lab = await startSystemdLab([port]);
    if (!lab) return;
    restoreAws = useTestAwsCredentials();
    process.env.BUILDKITE_AGENT_TOKEN = TOKEN;
    buildkite = await startBuildkiteApi(TOKEN);
    buildkite.pollDuration = undefined;
    buildkite.metrics = metrics(0, 0);
    aws = await startAwsApi();
    aws.addGroup({ name: GROUP, minSize: 0, maxSize: 20, desired: 0 });
    kube = await new FakeKubeApi().start();
  }, 120_000);

  afterAll(async () => {
    await run?.stop();
    if (!lab) return;
    await lab.cleanup();
    await buildkite.close();
    await aws.close();
    await kube.stop();
    restoreAws();
    if (savedToken === undefined) delete process.env.BUILDKITE_AGENT_TOKEN;
    else process.env.BUILDKITE_AGENT_TOKEN = savedToken;
  }, 60_000);

  it('7 build jobs: 4 units on the big VM and 3 in the group; the group drains first; deploy runs Jobs on its own', async (ctx) => {
    if (!lab) return ctx.skip();
    const host = lab.hosts[0] as SystemdHost;
    // The big VM's agent: a template unit, as buildkite-agent's own package would install.
    host.installUnit(
      'buildkite-agent@.service',
      '[Service]\nExecStart=/bin/sh -c \'echo "agent %i for $BUILDKITE_AGENT_TAGS"; exec sleep infinity\'\n',
    );
    const kubeconfig = join(lab.dir, 'kubeconfig');
    writeFileSync(kubeconfig, kube.kubeconfig(), { mode: 0o600 });
    const config = pointed({ buildkite: buildkite.endpoint, aws: aws.endpoint, kubeconfig, lab, host });
    run = await runEngine(config, { clock: new RealClock(), file: join(lab.dir, 'ci-overflow.toml') });

    const units = () => [...host.instances('buildkite-agent').values()].filter((s) => s === 'active').length;
    const desired = () => aws.groups.get(GROUP)?.desired;
    const jobs = () =>
      kube
        .list('Job', 'ci')
        .filter(
          (j) => (j.metadata as { labels?: Record<string, string> }).labels?.['waymond.io/scaler'] === 'deploy_agents',
        );
    const unfinished = () =>
      jobs().filter(
        (j) =>
          !((j.status ?? {}) as { conditions?: { type: string }[] }).conditions?.some((c) => c.type === 'Complete'),
      );
    const state = () => `units ${units()}, group ${desired()}, Jobs ${unfinished().length}/${jobs().length}`;
    const until = (check: () => boolean | Promise<boolean>, what: string) =>
      waitUntil(check, `${what} (now ${state()})`, 45_000);

    buildkite.metrics = metrics(7, 2);
    await until(() => units() === 4 && desired() === 3 && unfinished().length === 2, '4 units, group 3, 2 Jobs');
    expect(host.sh('systemctl show-environment')).not.toMatch(/BUILDKITE/);
    const pid = host.sh('systemctl show -p MainPID --value buildkite-agent@4.service').trim();
    expect(host.sh(`tr '\\0' '\\n' < /proc/${pid}/environ`)).toMatch(/^BUILDKITE_AGENT_TAGS=queue=build$/m);

    // Jobs finish: the group gives its VMs back before any unit stops.
    buildkite.metrics = metrics(5, 2);
    await until(() => desired() === 1 && units() === 4, 'group 1, units 4');
    buildkite.metrics = metrics(2, 2);
    await until(() => desired() === 0 && units() === 2, 'group 0, units 2');

    // The deploy queue's agents take their jobs (the pods run), the queue empties, and the
    // running Jobs are left to finish (never deleted while running); once finished they
    // are cleaned up (history_limit successful = 0). The build queue stays where it is.
    const names = jobs().map((j) => String((j.metadata as { name: string }).name));
    for (const name of names) kube.startJob('ci', name);
    buildkite.metrics = metrics(2, 0);
    await until(() => run?.engine.scaler('scaler.deploy_agents')?.lastDesired() === 0, 'deploy asked for 0');
    expect(unfinished().length).toBe(2);
    for (const name of names) kube.finishJob('ci', name, 'Complete');
    await until(() => jobs().length === 0, 'finished Jobs deleted');
    expect(kube.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs')).length).toBe(2);
    expect(units()).toBe(2);

    buildkite.metrics = metrics(0, 0);
    const lastDecision = async (scaler: string) => (await run?.engine.store.listDecisions({ scaler }))?.[0]?.desired;
    await until(
      async () => units() === 0 && desired() === 0 && (await lastDecision('scaler.big_vm')) === 0,
      'everything at 0, and decided',
    );
    // The order it happened in, as the decisions record it: tier 2 emptied first.
    const group = (await run.engine.store.listDecisions({ scaler: 'scaler.overflow_vms' }))
      .map((d) => d.desired)
      .reverse();
    const vm = (await run.engine.store.listDecisions({ scaler: 'scaler.big_vm' })).map((d) => d.desired).reverse();
    // (A first 0 is there when the first poll came before the burst.)
    const changes = (ds: (number | null)[]) => ds.filter((d, i) => d !== ds[i - 1]).join(' → ');
    expect(changes(group)).toMatch(/^(0 → )?3 → 1 → 0$/);
    expect(changes(vm)).toMatch(/^(0 → )?4 → 2 → 0$/);
  }, 240_000);
});
