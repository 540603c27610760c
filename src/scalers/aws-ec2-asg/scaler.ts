/**
 * Scales EC2 Auto Scaling groups, one per target: the input's `asg_name` (one group per
 * Buildkite queue in the original waymond's flow), else the config's `asg_name`.
 *
 * - The count is the group's DesiredCapacity: the group itself replaces instances that
 *   die, so the capacity it is committed to is what waymond reconciles. Instances are the
 *   members (Pending → starting, InService → running and ready).
 * - Scale-out and plain scale-in are SetDesiredCapacity, an absolute value: a retry never
 *   changes the group twice. When the engine names instances to remove, each goes with
 *   TerminateInstanceInAutoScalingGroup and ShouldDecrementDesiredCapacity=true (a retry
 *   finds the instance already terminating, so it is never decremented twice).
 * - Instances protected from scale-in are never terminated by waymond. If the engine picked
 *   one, it is skipped and SetDesiredCapacity lowers the rest; the group then chooses among
 *   unprotected instances, and keeps protected ones until their protection is lifted.
 * - The desired count is moved into the group's MinSize..MaxSize (the API refuses values
 *   outside), and the log says so.
 * - A missing group is created (allow_create) on the first input that wants instances,
 *   with the config's settings and a launch template version picked by AMI id.
 * - apply makes exactly the calls planAsgCalls() (plan.ts) lists from the group as observe
 *   saw it, and a dry run prints that same list.
 *
 * The AWS SDK is loaded, not imported: the Auto Scaling client by create(), the EC2 client
 * (about 93 MiB) only when a launch template version must be picked by AMI. Imported here,
 * they would cost every run of waymond over 110 MiB at startup, with or without this scaler.
 */
import type { AutoScalingClient, AutoScalingGroup, Instance } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { PermanentError } from '../../core/errors.js';
import type {
  ApplyNote,
  ComponentContext,
  EventData,
  Member,
  Observation,
  Plan,
  Scaler,
  ScalerDefinition,
} from '../../core/types.js';
import { baseTemplate, createGroupInput, toTags, versionForAmi } from './create.js';
import { type AsgCall, type AsgPlan, describeAsgCall, memberState, planAsgCalls } from './plan.js';
import { type AsgConfig, type AsgInput, type AsgTag, capabilities, inputSchema, mergeTags, schema } from './schema.js';

export const awsEc2Asg: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'aws_ec2_asg',
  capabilities,
  summary:
    'Sets the desired capacity of EC2 Auto Scaling groups named by the input (`asg_name`), creating them when allowed; never terminates scale-in-protected instances.',
  schema,
  example: `[[scaler]]
type = "aws_ec2_asg"
id = "ci_agents"
region = "eu-west-1"
allow_create = true
min_size = 0
max_size = 10
vpc_zone_identifier = ["subnet-0abc1234"]
[scaler.mixed_instances_policy.launch_template.launch_template_specification]
launch_template_name = "ci-agent"
[[scaler.tags]]
key = "team"
value = "ci"
propagate_at_launch = true`,
  async create(config, ctx) {
    return new AsgScaler(config, ctx, await import('@aws-sdk/client-auto-scaling'));
  },
};

/** The Auto Scaling client and command classes, as loaded by create(). */
type AutoScalingSdk = typeof import('@aws-sdk/client-auto-scaling');

export { memberState } from './plan.js';

/** The API's own error code (the SDK names its classes differently: AlreadyExistsFault). */
function awsCode(error: unknown): string {
  const code = (error as { Code?: unknown }).Code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'Error';
}

/** The API's code and message, never the request (which carries no secret, but is noise). */
function describeAwsError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return `${awsCode(error)}: ${error.message}${status ? ` (HTTP ${status})` : ''}`;
  }
  return String(error);
}

class AsgScaler implements Scaler {
  private readonly autoscaling: AutoScalingClient;
  /** Created on first use: most groups are never created with an AMI, and EC2's SDK is big. */
  private ec2: EC2Client | undefined;
  /** The group as the last observe saw it, per name; apply works from the same view. */
  private readonly seen = new Map<string, AutoScalingGroup | null>();
  /** When waymond first saw each instance: the API gives no launch time, and newest go first. */
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly config: AsgConfig,
    private readonly ctx: ComponentContext,
    private readonly sdk: AutoScalingSdk,
  ) {
    this.autoscaling = new sdk.AutoScalingClient({
      ...this.clientSettings(),
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    });
  }

  private clientSettings() {
    return {
      ...(this.config.region ? { region: this.config.region } : {}),
      maxAttempts: this.config.max_attempts,
    };
  }

  private async ec2Client(): Promise<EC2Client> {
    if (!this.ec2) {
      const { EC2Client } = await import('@aws-sdk/client-ec2');
      const endpoint = this.config.ec2_endpoint ?? this.config.endpoint;
      this.ec2 ??= new EC2Client({ ...this.clientSettings(), ...(endpoint ? { endpoint } : {}) });
    }
    return this.ec2;
  }

  targetKey(data: EventData): string {
    // An input without a name still gets a lane; observe then reports the missing name.
    const name = typeof data.asg_name === 'string' ? data.asg_name : undefined;
    return name ?? this.config.asg_name ?? '';
  }

  async observe(data: EventData): Promise<Observation> {
    const name = this.groupName(data);
    const group = await this.call(`DescribeAutoScalingGroups for "${name}"`, () => this.describe(name));
    this.seen.set(name, group);
    if (!group) {
      if (!this.config.allow_create) {
        throw new PermanentError(
          `${this.ctx.address}: Auto Scaling group "${name}" not found; set allow_create = true to let waymond create it`,
        );
      }
      return { count: 0, ready: 0, members: [] };
    }
    const now = this.ctx.clock.now();
    const members = (group.Instances ?? []).map((i) => this.member(i, now));
    const present = new Set(members.map((m) => m.id));
    for (const id of this.firstSeen.keys()) if (!present.has(id)) this.firstSeen.delete(id);
    return {
      count: group.DesiredCapacity ?? 0,
      ready: members.filter((m) => m.ready).length,
      members,
    };
  }

  /** The calls for `plan`, from the group as observe saw it (see plan.ts). */
  private planFor(plan: Plan): { input: AsgInput; tags: AsgTag[]; planned: AsgPlan } {
    const name = this.groupName(plan.data);
    const input = this.readInput(plan.data);
    const tags = mergeTags(this.config.tags, input.tags);
    const ami = input.launch_template_version_options?.ami_id ?? this.config.launch_template_version_options?.ami_id;
    return { input, tags, planned: planAsgCalls(plan, name, this.seen.get(name), this.config, tags, ami) };
  }

  describeApply(plan: Plan): string[] {
    return this.planFor(plan).planned.calls.map(describeAsgCall);
  }

  async apply(plan: Plan): Promise<ApplyNote | undefined> {
    const { input, tags, planned } = this.planFor(plan);
    const name = this.groupName(plan.data);
    if (planned.bounded) {
      const { requested, value, bound } = planned.bounded;
      this.ctx.logger.info(
        { group: name, requested, desired: value },
        `desired ${requested} moved to ${value} by the group's ${bound}`,
      );
    }
    if (planned.calls.length === 0 && planned.note?.includes('disabled')) {
      this.ctx.logger.info({ group: name, desired: planned.bounded?.value ?? plan.desired }, planned.note);
    }
    for (const instance of planned.protectedSkipped) {
      this.ctx.logger.info({ group: name, instance }, 'instance is protected from scale-in: not terminating it');
    }
    for (const call of planned.calls) await this.run(call, input, tags);
    if (planned.from !== undefined) {
      this.ctx.logger.info(
        { group: name, from: planned.from, to: planned.to, reason: plan.reason },
        'group capacity changed',
      );
    }
    return planned.note ? { note: planned.note } : undefined;
  }

  /** Makes one planned call. */
  private async run(call: AsgCall, input: AsgInput, tags: AsgTag[]): Promise<void> {
    switch (call.action) {
      case 'CreateAutoScalingGroup':
        return this.createGroup(call.group, input, call.desired, tags);
      case 'CreateOrUpdateTags':
        await this.call(`CreateOrUpdateTags on "${call.group}"`, () =>
          this.autoscaling.send(new this.sdk.CreateOrUpdateTagsCommand({ Tags: toTags(call.group, call.tags) })),
        );
        return;
      case 'TerminateInstanceInAutoScalingGroup':
        await this.call(`TerminateInstanceInAutoScalingGroup ${call.instanceId} of "${call.group}"`, () =>
          this.autoscaling.send(
            new this.sdk.TerminateInstanceInAutoScalingGroupCommand({
              InstanceId: call.instanceId,
              ShouldDecrementDesiredCapacity: true,
            }),
          ),
        );
        return;
      case 'SetDesiredCapacity':
        await this.call(`SetDesiredCapacity of "${call.group}" to ${call.desired}`, () =>
          this.autoscaling.send(
            new this.sdk.SetDesiredCapacityCommand({
              AutoScalingGroupName: call.group,
              DesiredCapacity: call.desired,
              HonorCooldown: call.honorCooldown,
            }),
          ),
        );
        return;
    }
  }

  close(): void {
    this.autoscaling.destroy();
    this.ec2?.destroy();
  }

  private groupName(data: EventData): string {
    const name = this.targetKey(data);
    if (!name) {
      throw new Error(
        `${this.ctx.address}: no Auto Scaling group named: expected "asg_name" in the input data or the config`,
      );
    }
    return name;
  }

  private readInput(data: EventData): AsgInput {
    const parsed = inputSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${this.ctx.address}: invalid input data at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    return parsed.data;
  }

  private async describe(name: string): Promise<AutoScalingGroup | null> {
    const out = await this.autoscaling.send(
      new this.sdk.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name], MaxRecords: 1 }),
    );
    return out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === name) ?? null;
  }

  private member(i: Instance, now: number): Member {
    const id = i.InstanceId ?? 'unknown';
    if (!this.firstSeen.has(id)) this.firstSeen.set(id, now);
    const state = memberState(i.LifecycleState);
    return {
      id,
      state,
      ready: i.LifecycleState === 'InService',
      startedAt: this.firstSeen.get(id) ?? now,
      info: {
        lifecycle_state: i.LifecycleState,
        health_status: i.HealthStatus,
        availability_zone: i.AvailabilityZone,
        instance_type: i.InstanceType,
        protected_from_scale_in: i.ProtectedFromScaleIn === true,
      },
    };
  }

  private async createGroup(name: string, input: AsgInput, desired: number, tags: AsgTag[]): Promise<void> {
    const ami = input.launch_template_version_options?.ami_id ?? this.config.launch_template_version_options?.ami_id;
    let amiVersion: Awaited<ReturnType<typeof versionForAmi>> | undefined;
    if (ami) {
      const base = baseTemplate(this.config, input);
      if (!base) {
        throw new Error(
          `${this.ctx.address}: launch_template_version_options needs a base_launch_template (or a launch template in the config)`,
        );
      }
      amiVersion = await this.call(`finding or creating a launch template version for ${ami}`, () =>
        this.ec2Client().then((ec2) => versionForAmi(ec2, base, ami)),
      );
    }
    let plan: ReturnType<typeof createGroupInput>;
    try {
      plan = createGroupInput(this.config, input, name, desired, amiVersion, tags);
    } catch (error) {
      throw new Error(`${this.ctx.address}: ${(error as Error).message}`);
    }
    if (plan.clampNote) this.ctx.logger.info({ group: name }, plan.clampNote);
    try {
      await this.autoscaling.send(new this.sdk.CreateAutoScalingGroupCommand(plan.input));
      this.ctx.logger.info({ group: name, desired: plan.input.DesiredCapacity }, 'created Auto Scaling group');
    } catch (error) {
      if (awsCode(error) !== 'AlreadyExists') {
        throw new Error(`${this.ctx.address}: CreateAutoScalingGroup "${name}" failed: ${describeAwsError(error)}`, {
          cause: error,
        });
      }
      // Created meanwhile (by a retried request or someone else): set the capacity instead.
      const capacity = plan.input.DesiredCapacity ?? 0;
      await this.call(`SetDesiredCapacity of "${name}" to ${capacity}`, () =>
        this.autoscaling.send(
          new this.sdk.SetDesiredCapacityCommand({ AutoScalingGroupName: name, DesiredCapacity: capacity }),
        ),
      );
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new Error(`${this.ctx.address}: ${what} failed: ${describeAwsError(error)}`, { cause: error });
    }
  }
}
