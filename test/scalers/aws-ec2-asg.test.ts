import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reconciler } from '../../src/core/reconciler.js';
import type { Scaler } from '../../src/core/types.js';
import { wireScaler } from '../../src/core/wire-scaler.js';
import { awsEc2Asg, memberState } from '../../src/scalers/aws-ec2-asg/scaler.js';
import { type AwsApi, MUTATING_ACTIONS, startAwsApi } from '../fixtures/aws-api.js';
import { useTestAwsCredentials } from '../helpers/aws-env.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { SEED_DIR } from '../helpers/shared.js';

const SEED = `${SEED_DIR}/cron-buildkite-aws-ec2-asg.toml`;

function seedScalerSection(): Record<string, unknown> {
  const seed = parse(readFileSync(SEED, 'utf8')) as { scaler: Record<string, unknown>[] };
  return seed.scaler[0] as Record<string, unknown>;
}

describe('aws_ec2_asg config', () => {
  it('validates the seed section unchanged, numbers in tag values becoming text', () => {
    const config = awsEc2Asg.schema.parse(seedScalerSection());
    expect(config.allow_create).toBe(true);
    expect(config.default_cooldown).toBe(60_000);
    expect(config.tags).toEqual([{ key: 'buildkite-agent-tag:idle_timeout', value: '120', propagate_at_launch: true }]);
    expect(config.mixed_instances_policy?.launch_template?.launch_template_specification).toEqual({
      launch_template_name: 'launch-template-for-waymond',
    });
  });

  it('validates its own example', () => {
    const example = parse(awsEc2Asg.example) as { scaler: unknown[] };
    expect(() => awsEc2Asg.schema.parse(example.scaler[0])).not.toThrow();
  });

  it('rejects a launch template given by both id and name', () => {
    const result = awsEc2Asg.schema.safeParse({
      type: 'aws_ec2_asg',
      id: 'a',
      launch_template: { launch_template_id: 'lt-1', launch_template_name: 'x' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('expected exactly one of launch_template_id or launch_template_name');
  });

  it.each([
    ['Pending', 'starting'],
    ['Pending:Wait', 'starting'],
    ['InService', 'running'],
    ['Terminating:Wait', 'stopping'],
    ['Detaching', 'stopping'],
    ['Standby', 'unknown'],
  ])('lifecycle state %s is member state %s', (lifecycle, state) => {
    expect(memberState(lifecycle)).toBe(state);
  });
});

describe('aws_ec2_asg against the Auto Scaling API', () => {
  let api: AwsApi;
  let restoreEnv: () => void;
  let t: TestContext | undefined;
  let reconciler: Reconciler | undefined;
  let scaler: Scaler | undefined;

  beforeEach(async () => {
    restoreEnv = useTestAwsCredentials();
    api = await startAwsApi();
  });
  afterEach(async () => {
    await reconciler?.stop(1000);
    await scaler?.close?.();
    t?.close();
    reconciler = undefined;
    scaler = undefined;
    t = undefined;
    await api.close();
    restoreEnv();
  });

  async function boot(config: Record<string, unknown> = {}, options: { dryRun?: boolean } = {}) {
    t = testContext('scaler', 'asg', { dryRun: options.dryRun });
    const parsed = awsEc2Asg.schema.parse({
      type: 'aws_ec2_asg',
      id: 'asg',
      region: 'eu-west-1',
      endpoint: api.endpoint,
      retry_initial: '10s',
      ...config,
    });
    scaler = await awsEc2Asg.create(parsed, t.ctx);
    reconciler = wireScaler({
      address: 'scaler.asg',
      scaler,
      settings: parsed,
      clock: t.clock,
      bus: t.bus,
      store: t.store,
      logger: pino({ level: 'silent' }),
      dryRun: options.dryRun,
    }).reconciler;
    return { scaler, reconciler };
  }

  const mutations = () => api.actions().filter((a) => MUTATING_ACTIONS.has(a));

  it('reads members, lifecycle states and the protection flag from a recorded DescribeAutoScalingGroups answer', async () => {
    api.replies.set(
      'DescribeAutoScalingGroups',
      readFileSync(new URL('../fixtures/aws/describe-auto-scaling-groups.xml', import.meta.url), 'utf8'),
    );
    const { scaler } = await boot();
    const observed = await scaler.observe({ asg_name: 'aws-on-demand-arm64-ubuntu-22-ami-abc' });
    expect(observed.count).toBe(3);
    expect(observed.ready).toBe(1);
    expect(observed.members?.map((m) => [m.id, m.state, m.info?.protected_from_scale_in])).toEqual([
      ['i-0a1b2c3d4e5f60718', 'running', true],
      ['i-0b2c3d4e5f6071829', 'starting', false],
      ['i-0c3d4e5f607182930', 'stopping', false],
    ]);
  });

  it('absorbs Throttling answers through the SDK retry', async () => {
    api.addGroup({ name: 'g', desired: 2 });
    api.throttle(2);
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(4, { asg_name: 'g' });
    expect(result.outcome).toBe('ok');
    expect(api.groups.get('g')?.desired).toBe(4);
    expect(api.actions().slice(0, 3)).toEqual([
      'DescribeAutoScalingGroups',
      'DescribeAutoScalingGroups',
      'DescribeAutoScalingGroups',
    ]);
    expect(api.actions().filter((a) => a === 'SetDesiredCapacity')).toHaveLength(1);
  });

  it('surfaces a ValidationError with the API message and changes nothing', async () => {
    // The seed's launch template does not exist in this account.
    const { reconciler } = await boot({ ...seedScalerSection(), endpoint: api.endpoint, region: 'eu-west-1' });
    const result = await reconciler.reconcileNow(2, { asg_name: 'queue-a' });
    expect(result.outcome).toBe('error');
    expect(result.error).toBe(
      'scaler.asg: CreateAutoScalingGroup "queue-a" failed: ValidationError: You must use a valid fully-formed launch template. The specified launch template, with template name launch-template-for-waymond, does not exist. (HTTP 400)',
    );
    expect(api.groups.size).toBe(0);
    expect(t?.events.some((e) => e.topic === 'scaler.asg.error')).toBe(true);
  });

  it('reports a missing group when it may not create one', async () => {
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(2, { asg_name: 'nope' });
    expect(result.outcome).toBe('error');
    expect(result.error).toBe(
      'scaler.asg: Auto Scaling group "nope" not found; set allow_create = true to let waymond create it',
    );
    expect(mutations()).toEqual([]);
  });

  it('reports input without a group name', async () => {
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(2, {});
    expect(result.error).toBe(
      'scaler.asg: no Auto Scaling group named: expected "asg_name" in the input data or the config',
    );
  });

  it('uses the config asg_name when the input names none', async () => {
    api.addGroup({ name: 'default-group', desired: 1 });
    const { reconciler } = await boot({ asg_name: 'default-group' });
    expect((await reconciler.reconcileNow(3, { desired: 3 })).outcome).toBe('ok');
    expect(api.groups.get('default-group')?.desired).toBe(3);
  });

  it('honours disable_scale_in: the group keeps its capacity', async () => {
    api.addGroup({ name: 'g', desired: 3 });
    const { reconciler } = await boot({ disable_scale_in: true });
    const held = await reconciler.reconcileNow(1, { asg_name: 'g' }, null, 'asked 1');
    expect(held.outcome).toBe('ok');
    expect(held.reason).toBe('asked 1; scale-in disabled (disable_scale_in): group left as is');
    expect(api.groups.get('g')?.desired).toBe(3);
    expect(mutations()).toEqual([]);
    expect((await reconciler.reconcileNow(5, { asg_name: 'g' })).outcome).toBe('ok');
    expect(api.groups.get('g')?.desired).toBe(5);
  });

  it('honours disable_scale_out', async () => {
    api.addGroup({ name: 'g', desired: 1 });
    const { reconciler } = await boot({ disable_scale_out: true });
    await reconciler.reconcileNow(4, { asg_name: 'g' });
    expect(api.groups.get('g')?.desired).toBe(1);
    expect(mutations()).toEqual([]);
  });

  it('terminates the instances the engine names, decrementing the capacity', async () => {
    const group = api.addGroup({ name: 'g', desired: 3 });
    const { scaler, reconciler } = await boot();
    await scaler.observe({ asg_name: 'g' });
    const ids = group.instances.map((i) => i.InstanceId);
    expect((await reconciler.reconcileNow(2, { asg_name: 'g' })).outcome).toBe('ok');
    const terminate = api.calls.filter((c) => c.action === 'TerminateInstanceInAutoScalingGroup');
    expect(terminate).toHaveLength(1);
    expect(terminate[0]?.params.ShouldDecrementDesiredCapacity).toBe('true');
    expect(ids).toContain(terminate[0]?.params.InstanceId);
    expect(api.groups.get('g')?.desired).toBe(2);
    expect(mutations()).toEqual(['TerminateInstanceInAutoScalingGroup']);
  });

  it('never terminates an instance protected from scale-in', async () => {
    const group = api.addGroup({ name: 'g', desired: 1 });
    group.newInstancesProtectedFromScaleIn = true;
    api.setDesired('g', 3);
    const protectedIds = group.instances.filter((i) => i.ProtectedFromScaleIn).map((i) => i.InstanceId);
    expect(protectedIds).toHaveLength(2);
    const { reconciler } = await boot();
    // The engine picks two of three, so at least one protected instance is among its picks.
    expect((await reconciler.reconcileNow(1, { asg_name: 'g' })).outcome).toBe('ok');
    const terminated = api.calls
      .filter((c) => c.action === 'TerminateInstanceInAutoScalingGroup')
      .map((c) => c.params.InstanceId);
    for (const id of protectedIds) expect(terminated).not.toContain(id);
    expect(group.desired).toBe(1);
    // As on AWS, the group keeps protected instances even above its desired capacity.
    expect(group.instances.map((i) => i.InstanceId).sort()).toEqual([...protectedIds].sort());
  });

  it('moves the desired count into the group MinSize..MaxSize instead of asking for an invalid one', async () => {
    api.addGroup({ name: 'g', desired: 2, minSize: 1, maxSize: 5 });
    const { reconciler } = await boot();
    const capped = await reconciler.reconcileNow(9, { asg_name: 'g' }, null, 'asked 9');
    expect(capped.outcome).toBe('ok');
    expect(capped.reason).toBe("asked 9; moved to 5 by the group's MaxSize");
    expect(api.groups.get('g')?.desired).toBe(5);
    expect((await reconciler.reconcileNow(0, { asg_name: 'g' })).outcome).toBe('ok');
    expect(api.groups.get('g')?.desired).toBe(1);
  });

  it('sends HonorCooldown when asked, and reports the refusal inside the cooldown', async () => {
    const group = api.addGroup({ name: 'g', desired: 1, defaultCooldown: 300 });
    group.lastScalingAt = Date.now();
    const { reconciler } = await boot({ honor_cooldown: true });
    const result = await reconciler.reconcileNow(2, { asg_name: 'g' });
    expect(api.calls.find((c) => c.action === 'SetDesiredCapacity')?.params.HonorCooldown).toBe('true');
    expect(result.outcome).toBe('error');
    expect(result.error).toMatch(/ScalingActivityInProgress: Scaling activity \w+ is in progress/);
    expect(group.desired).toBe(1);
  });

  it('brings tags up to date with CreateOrUpdateTags when it changes the group', async () => {
    api.addGroup({ name: 'g', desired: 1, tags: [{ Key: 'team', Value: 'old', PropagateAtLaunch: true }] });
    const { reconciler } = await boot({ tags: [{ key: 'team', value: 'ci', propagate_at_launch: true }] });
    await reconciler.reconcileNow(2, {
      asg_name: 'g',
      tags: [{ key: 'queue', value: 'g', propagate_at_launch: true }],
    });
    expect(api.groups.get('g')?.tags).toEqual([
      { Key: 'team', Value: 'ci', PropagateAtLaunch: true },
      { Key: 'queue', Value: 'g', PropagateAtLaunch: true },
    ]);
  });

  it('creates the group from a launch template version found or created by AMI id, once', async () => {
    const template = api.addTemplate('agents', 'ami-00000001');
    const { reconciler } = await boot({
      allow_create: true,
      max_size: 4,
      vpc_zone_identifier: ['subnet-1', 'subnet-2'],
      base_launch_template: { launch_template_name: 'agents', version: '1' },
    });
    const data = (name: string) => ({ asg_name: name, launch_template_version_options: { ami_id: 'ami-0feedbeef' } });
    expect((await reconciler.reconcileNow(2, data('q1'))).outcome).toBe('ok');
    expect((await reconciler.reconcileNow(1, data('q2'))).outcome).toBe('ok');
    expect(template.versions.map((v) => [v.number, v.imageId])).toEqual([
      [1, 'ami-00000001'],
      [2, 'ami-0feedbeef'],
    ]);
    expect(api.actions().filter((a) => a === 'CreateLaunchTemplateVersion')).toHaveLength(1);
    expect(api.groups.get('q1')?.launchTemplate).toEqual({ LaunchTemplateId: template.id, Version: '2' });
    expect(api.groups.get('q2')?.launchTemplate).toEqual({ LaunchTemplateId: template.id, Version: '2' });
    expect(api.groups.get('q1')?.vpcZoneIdentifier).toBe('subnet-1,subnet-2');
  });

  it('sets the capacity when the group appeared between observe and create (AlreadyExists)', async () => {
    api.addTemplate('agents');
    const { scaler } = await boot({
      allow_create: true,
      max_size: 4,
      vpc_zone_identifier: ['subnet-1'],
      launch_template: { launch_template_name: 'agents' },
    });
    const data = { asg_name: 'racy' };
    const observed = await scaler.observe(data);
    api.addGroup({ name: 'racy', desired: 0, maxSize: 4 });
    await scaler.apply({ desired: 3, observed, add: 3, remove: [], data, reason: 'test' });
    expect(api.actions().filter((a) => MUTATING_ACTIONS.has(a))).toEqual([
      'CreateAutoScalingGroup',
      'SetDesiredCapacity',
    ]);
    expect(api.groups.get('racy')?.desired).toBe(3);
  });

  it('in dry run observes but calls nothing that changes state', async () => {
    api.addGroup({ name: 'g', desired: 3 });
    api.addTemplate('launch-template-for-waymond');
    const { reconciler } = await boot(
      { ...seedScalerSection(), endpoint: api.endpoint, region: 'eu-west-1' },
      { dryRun: true },
    );
    const down = await reconciler.reconcileNow(1, { asg_name: 'g' }, null, 'asked 1');
    expect(down.outcome).toBe('dry_run');
    // The seed's tags first (the old describeApply left this call out), then named removals
    // become terminations that decrement the group: two of the three instances.
    expect(down.reason).toMatch(
      /^asked 1; dry run, would call: CreateOrUpdateTags AutoScalingGroupName=g buildkite-agent-tag:idle_timeout=120; TerminateInstanceInAutoScalingGroup InstanceId=i-\w+ ShouldDecrementDesiredCapacity=true; TerminateInstanceInAutoScalingGroup InstanceId=i-\w+ ShouldDecrementDesiredCapacity=true$/,
    );
    const created = await reconciler.reconcileNow(4, { asg_name: 'new-queue' }, null, 'asked 4');
    expect(created.outcome).toBe('dry_run');
    expect(created.reason).toBe(
      'asked 4; dry run, would call: CreateAutoScalingGroup AutoScalingGroupName=new-queue DesiredCapacity=4',
    );
    expect(mutations()).toEqual([]);
    expect(api.groups.get('g')?.desired).toBe(3);
    expect(api.groups.has('new-queue')).toBe(false);
  });

  it('a dry run lists exactly the calls apply makes: tags, terminations (never a protected one), capacity', async () => {
    const group = api.addGroup({
      name: 'g',
      desired: 1,
      tags: [{ Key: 'team', Value: 'old', PropagateAtLaunch: true }],
    });
    group.newInstancesProtectedFromScaleIn = true;
    api.setDesired('g', 2);
    group.newInstancesProtectedFromScaleIn = false;
    api.setDesired('g', 4);
    const config = { tags: [{ key: 'team', value: 'ci', propagate_at_launch: true }] };
    const dry = await boot(config, { dryRun: true });
    const listed = await dry.reconciler.reconcileNow(1, { asg_name: 'g' }, null, 'asked 1');
    expect(listed.outcome).toBe('dry_run');
    const lines = listed.reason.replace(/^asked 1; dry run, would call: /, '').split('; ');
    expect(mutations()).toEqual([]);
    await dry.reconciler.stop(1000);
    await dry.scaler.close?.();
    t?.close();
    const real = await boot(config);
    expect((await real.reconciler.reconcileNow(1, { asg_name: 'g' })).outcome).toBe('ok');
    const made = api.calls
      .filter((c) => MUTATING_ACTIONS.has(c.action))
      .map((c) => {
        const p = c.params as Record<string, unknown>;
        if (c.action === 'CreateOrUpdateTags') return `CreateOrUpdateTags AutoScalingGroupName=g team=ci`;
        if (c.action === 'TerminateInstanceInAutoScalingGroup')
          return `${c.action} InstanceId=${p.InstanceId} ShouldDecrementDesiredCapacity=${p.ShouldDecrementDesiredCapacity}`;
        return `${c.action} AutoScalingGroupName=${p.AutoScalingGroupName} DesiredCapacity=${p.DesiredCapacity} HonorCooldown=${p.HonorCooldown ?? 'false'}`;
      });
    expect(made).toEqual(lines);
    expect(made[0]).toBe('CreateOrUpdateTags AutoScalingGroupName=g team=ci');
    const protectedIds = group.instances.filter((i) => i.ProtectedFromScaleIn).map((i) => i.InstanceId);
    for (const id of protectedIds) expect(lines.join(' ')).not.toContain(id);
  });

  it('gives each group its own lane (targetKey is the group name)', async () => {
    const { scaler } = await boot({ asg_name: 'fallback' });
    expect(scaler.targetKey?.({ asg_name: 'q1' })).toBe('q1');
    expect(scaler.targetKey?.({})).toBe('fallback');
  });
});
