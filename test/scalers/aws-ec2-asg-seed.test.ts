/**
 * The original waymond's cron → buildkite → go_template → aws_ec2_asg config, run through
 * the real Engine with only the two endpoints pointed at the local Buildkite and AWS API
 * stand-ins: every minute the queues are read and each matching queue's group is created
 * (allow_create) or resized to scheduled + running jobs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { VirtualClock } from '../../src/core/clock.js';
import type { Engine } from '../../src/core/engine.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import { type AwsApi, startAwsApi } from '../fixtures/aws-api.js';
import { type BuildkiteApi, startBuildkiteApi } from '../fixtures/buildkite-api.js';
import { useTestAwsCredentials } from '../helpers/aws-env.js';
import { SEED_DIR } from '../helpers/shared.js';

const SEED = readFileSync(`${SEED_DIR}/cron-buildkite-aws-ec2-asg.toml`, 'utf8');
const TOKEN = 'bkua_seed_flow_token';
const Q22 = 'aws-on-demand-arm64-ubuntu-22-ami-abc';
const Q24 = 'aws-on-demand-arm64-ubuntu-24-ami-def';

function metrics(queues: Record<string, { scheduled: number; running: number }>): Record<string, unknown> {
  const jobs: Record<string, unknown> = {};
  for (const [name, q] of Object.entries(queues)) jobs[name] = { ...q, waiting: 0, total: q.scheduled + q.running };
  return { agents: { queues: {} }, jobs: { queues: jobs }, organization: { slug: 'waymond-test' } };
}

/** The seed, changed only where its endpoints are: the trigger's and the scaler's. */
function seedPointedAt(buildkite: string, aws: string): string {
  const withBuildkite = SEED.replace(
    'filter_by_queue_name = "aws-on-demand-arm64-ubuntu-.*-ami-.*"\n',
    `filter_by_queue_name = "aws-on-demand-arm64-ubuntu-.*-ami-.*"\nendpoint = "${buildkite}"\n`,
  );
  const withAws = withBuildkite.replace(
    'id = "my_aws_org_asg_scaler"\n',
    `id = "my_aws_org_asg_scaler"\nendpoint = "${aws}"\n`,
  );
  if (withAws === SEED || withAws === withBuildkite) throw new Error('the seed changed: update the endpoint edits');
  return withAws;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('seed cron-buildkite-aws-ec2-asg.toml through the engine', () => {
  let aws: AwsApi;
  let buildkite: BuildkiteApi;
  let engine: Engine | undefined;
  let dir: string;
  let restoreEnv: () => void;
  const saved = { token: process.env.BUILDKITE_TOKEN, region: process.env.AWS_REGION };

  beforeEach(async () => {
    restoreEnv = useTestAwsCredentials();
    process.env.BUILDKITE_TOKEN = TOKEN;
    process.env.AWS_REGION = 'eu-west-1';
    aws = await startAwsApi();
    aws.addTemplate('launch-template-for-waymond', 'ami-0123456789abcdef0');
    buildkite = await startBuildkiteApi(TOKEN);
    dir = mkdtempSync(join(tmpdir(), 'waymond-seed-asg-'));
  });

  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    await aws.close();
    await buildkite.close();
    rmSync(dir, { recursive: true, force: true });
    restoreEnv();
    for (const [key, value] of [
      ['BUILDKITE_TOKEN', saved.token],
      ['AWS_REGION', saved.region],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('validates unchanged', () => {
    const loaded = loadConfigText(SEED, join(dir, 'seed.toml'), defaultRegistry(), { BUILDKITE_TOKEN: TOKEN });
    expect(loaded.ok ? [] : loaded.issues).toEqual([]);
  });

  it('creates one group per busy queue with the seed settings, desired = scheduled + running, then follows the queue', async () => {
    buildkite.metrics = metrics({
      [Q22]: { scheduled: 2, running: 1 },
      [Q24]: { scheduled: 6, running: 1 },
      default: { scheduled: 9, running: 9 },
    });
    const loaded = loadConfigText(
      seedPointedAt(buildkite.endpoint, aws.endpoint),
      join(dir, 'seed.toml'),
      defaultRegistry(),
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const clock = new VirtualClock(Date.UTC(2026, 0, 1, 12, 0, 30));
    engine = createDaemon(loaded.config, {
      logger: pino({ level: process.env.WAYMOND_TEST_LOG ?? 'silent' }),
      clock,
      statePath: ':memory:',
      http: false,
    }).engine;
    await engine.start();
    // Exactly to the minute: the cron fires at the end of the window, so the poll's own
    // (virtual) timeout is not run past while the real HTTP request is in flight.
    await clock.advance(30_000);
    await until(() => aws.groups.has(Q22) && aws.groups.has(Q24), 'both groups to be created');

    const g22 = aws.groups.get(Q22);
    expect(g22).toMatchObject({
      minSize: 1,
      maxSize: 5,
      desired: 3,
      capacityRebalance: true,
      defaultCooldown: 60,
      vpcZoneIdentifier: 'SUBNET_ID',
      placementGroup: 'PLACEMENT_GROUP_ID',
    });
    expect(g22?.tags).toEqual([
      { Key: 'buildkite-agent-tag:idle_timeout', Value: '120', PropagateAtLaunch: true },
      { Key: 'buildkite-agent-tag:queue', Value: Q22, PropagateAtLaunch: true },
    ]);
    expect(g22?.mixedInstancesPolicy).toEqual({
      InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: '100' },
      LaunchTemplate: { LaunchTemplateSpecification: { LaunchTemplateName: 'launch-template-for-waymond' } },
    });
    // 6 + 1 = 7 jobs, but the seed's max_size is 5.
    expect(aws.groups.get(Q24)?.desired).toBe(5);
    expect(aws.groups.has('default')).toBe(false);

    // A minute later queue 22 has one running job left: the group follows it down.
    buildkite.metrics = metrics({ [Q22]: { scheduled: 0, running: 1 }, [Q24]: { scheduled: 6, running: 1 } });
    await clock.advance(60_000);
    await until(() => aws.groups.get(Q22)?.desired === 1, 'queue 22 to scale in to 1');
    expect(aws.actions().filter((a) => a === 'CreateAutoScalingGroup')).toHaveLength(2);
  });
});
