/**
 * What the `aws_ec2_asg` scaler sends when it creates a group: the launch template version
 * picked by AMI id (found, or created once) and the CreateAutoScalingGroup input built from
 * config and input data, as the original waymond did.
 *
 * Only types are imported from the SDK here; versionForAmi loads the EC2 commands when it
 * runs, so the SDK costs nothing at startup (see scaler.ts).
 */
import { createHash } from 'node:crypto';
import type {
  CreateAutoScalingGroupCommandInput,
  LaunchTemplateOverrides,
  LaunchTemplateSpecification,
  Tag,
} from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AsgConfig, AsgInput, AsgTag, LaunchTemplateOverride, LaunchTemplateSpec } from './schema.js';

export function toSpec(spec: LaunchTemplateSpec): LaunchTemplateSpecification {
  return {
    ...(spec.launch_template_id ? { LaunchTemplateId: spec.launch_template_id } : {}),
    ...(spec.launch_template_name ? { LaunchTemplateName: spec.launch_template_name } : {}),
    ...(spec.version ? { Version: spec.version } : {}),
  };
}

function toOverride(o: LaunchTemplateOverride): LaunchTemplateOverrides {
  return {
    ...(o.instance_type ? { InstanceType: o.instance_type } : {}),
    ...(o.weighted_capacity ? { WeightedCapacity: o.weighted_capacity } : {}),
    ...(o.launch_template_specification
      ? { LaunchTemplateSpecification: toSpec(o.launch_template_specification) }
      : {}),
  };
}

export function toTags(groupName: string, tags: AsgTag[]): Tag[] {
  return tags.map((t) => ({
    ResourceId: groupName,
    ResourceType: 'auto-scaling-group',
    Key: t.key,
    Value: t.value,
    PropagateAtLaunch: t.propagate_at_launch,
  }));
}

/** The template a version is looked up in: explicit base first, then the group's own template. */
export function baseTemplate(config: AsgConfig, input: AsgInput): LaunchTemplateSpec | undefined {
  return (
    input.base_launch_template ??
    config.base_launch_template ??
    config.launch_template ??
    config.mixed_instances_policy?.launch_template?.launch_template_specification
  );
}

/**
 * A version of `base` whose AMI is `amiId`: the newest existing one, else a new one made from
 * `base.version`. The ClientToken is derived from template and AMI, so a retried create (the
 * answer lost on the way back) returns the same version instead of making a second one.
 */
export async function versionForAmi(
  ec2: EC2Client,
  base: LaunchTemplateSpec,
  amiId: string,
): Promise<LaunchTemplateSpecification> {
  const { CreateLaunchTemplateVersionCommand, DescribeLaunchTemplateVersionsCommand } = await import(
    '@aws-sdk/client-ec2'
  );
  const which = base.launch_template_id
    ? { LaunchTemplateId: base.launch_template_id }
    : { LaunchTemplateName: base.launch_template_name };
  const found = await ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ ...which, Filters: [{ Name: 'image-id', Values: [amiId] }] }),
  );
  const newest = (found.LaunchTemplateVersions ?? [])
    .filter((v) => v.VersionNumber !== undefined)
    .sort((a, b) => (b.VersionNumber ?? 0) - (a.VersionNumber ?? 0))[0];
  if (newest?.LaunchTemplateId && newest.VersionNumber !== undefined) {
    return { LaunchTemplateId: newest.LaunchTemplateId, Version: String(newest.VersionNumber) };
  }
  const token = createHash('sha256')
    .update(`${base.launch_template_id ?? base.launch_template_name}/${base.version ?? ''}/${amiId}`)
    .digest('hex')
    .slice(0, 48);
  const created = await ec2.send(
    new CreateLaunchTemplateVersionCommand({
      ...which,
      ...(base.version ? { SourceVersion: base.version } : {}),
      VersionDescription: `waymond: ${amiId}`,
      LaunchTemplateData: { ImageId: amiId },
      ClientToken: `waymond-${token}`,
    }),
  );
  const version = created.LaunchTemplateVersion;
  if (!version?.LaunchTemplateId || version.VersionNumber === undefined) {
    throw new Error('CreateLaunchTemplateVersion answered without a LaunchTemplateId and VersionNumber');
  }
  return { LaunchTemplateId: version.LaunchTemplateId, Version: String(version.VersionNumber) };
}

export interface CreatePlan {
  input: CreateAutoScalingGroupCommandInput;
  /** Set when the desired count had to be moved into [MinSize, MaxSize]. */
  clampNote?: string;
}

/** The CreateAutoScalingGroup request for `groupName` at `desired` (moved into the size bounds). */
export function createGroupInput(
  config: AsgConfig,
  input: AsgInput,
  groupName: string,
  desired: number,
  amiVersion: LaunchTemplateSpecification | undefined,
  tags: AsgTag[],
): CreatePlan {
  const minSize = input.min_size ?? config.min_size;
  const maxSize = input.max_size ?? config.max_size;
  if (maxSize === undefined) {
    throw new Error(`cannot create "${groupName}": max_size is required (in the config or the input data)`);
  }
  if (minSize > maxSize) {
    throw new Error(`cannot create "${groupName}": min_size ${minSize} is greater than max_size ${maxSize}`);
  }
  const capacity = Math.min(maxSize, Math.max(minSize, desired));
  const clampNote =
    capacity !== desired
      ? `desired ${desired} moved to ${capacity} by the new group's ${desired > maxSize ? `max_size ${maxSize}` : `min_size ${minSize}`}`
      : undefined;

  const request: CreateAutoScalingGroupCommandInput = {
    AutoScalingGroupName: groupName,
    MinSize: minSize,
    MaxSize: maxSize,
    DesiredCapacity: capacity,
    ...(config.capacity_rebalance !== undefined ? { CapacityRebalance: config.capacity_rebalance } : {}),
    ...(config.default_cooldown !== undefined ? { DefaultCooldown: Math.round(config.default_cooldown / 1000) } : {}),
    ...(config.placement_group ? { PlacementGroup: config.placement_group } : {}),
    ...(config.vpc_zone_identifier.length > 0 ? { VPCZoneIdentifier: config.vpc_zone_identifier.join(',') } : {}),
    ...(tags.length > 0 ? { Tags: toTags(groupName, tags) } : {}),
  };

  const mixed = config.mixed_instances_policy;
  const overrides = [...(mixed?.launch_template?.overrides ?? []), ...(input.launch_template_overrides ?? [])].map(
    toOverride,
  );
  if (mixed || overrides.length > 0) {
    // The API takes either LaunchTemplate or MixedInstancesPolicy; with a policy, the AMI's
    // version replaces the policy's template.
    const configured = mixed?.launch_template?.launch_template_specification;
    const spec = amiVersion ?? (configured ? toSpec(configured) : undefined);
    const d = mixed?.instances_distribution;
    request.MixedInstancesPolicy = {
      ...(d
        ? {
            InstancesDistribution: {
              OnDemandAllocationStrategy: d.on_demand_allocation_strategy,
              OnDemandBaseCapacity: d.on_demand_base_capacity,
              OnDemandPercentageAboveBaseCapacity: d.on_demand_percentage_above_base_capacity,
              SpotAllocationStrategy: d.spot_allocation_strategy,
              SpotInstancePools: d.spot_instance_pools,
              SpotMaxPrice: d.spot_max_price,
            },
          }
        : {}),
      LaunchTemplate: {
        ...(spec ? { LaunchTemplateSpecification: spec } : {}),
        ...(overrides.length > 0 ? { Overrides: overrides } : {}),
      },
    };
  } else if (amiVersion) {
    request.LaunchTemplate = amiVersion;
  } else if (config.launch_template) {
    request.LaunchTemplate = toSpec(config.launch_template);
  }
  return { input: request, ...(clampNote ? { clampNote } : {}) };
}
