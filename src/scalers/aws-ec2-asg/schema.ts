/**
 * Config and input-data shapes of the `aws_ec2_asg` scaler, kept apart from the scaler so
 * the scaler file stays about behaviour. Field names follow the original waymond (and the
 * Auto Scaling API, snake_cased), so its configs validate unchanged.
 */
import { z } from 'zod';
import { duration } from '../../core/duration.js';
import { scalerSchema } from '../../core/schema.js';

export const launchTemplateSpecification = z
  .strictObject({
    launch_template_id: z.string().min(1).optional().describe('Launch template id (lt-…); or give the name.'),
    launch_template_name: z.string().min(1).optional().describe('Launch template name; or give the id.'),
    version: z
      .string()
      .min(1)
      .optional()
      .describe('Version: a number, "$Latest" or "$Default" (the API default is "$Default").'),
  })
  .refine((s) => (s.launch_template_id === undefined) !== (s.launch_template_name === undefined), {
    message: 'expected exactly one of launch_template_id or launch_template_name',
  });

export type LaunchTemplateSpec = z.output<typeof launchTemplateSpecification>;

/** Tag values are strings to AWS; TOML configs (like the seed) write numbers and booleans too. */
export const asgTag = z.strictObject({
  key: z.string().min(1).describe('Tag key.'),
  value: z
    .union([z.string(), z.number(), z.boolean()])
    .transform((v) => String(v))
    .describe('Tag value; numbers and booleans are sent as their text.'),
  propagate_at_launch: z
    .boolean()
    .default(false)
    .describe('Also tag the instances the group launches (Buildkite agents read their tags from these).'),
});

export type AsgTag = z.output<typeof asgTag>;

export const launchTemplateOverride = z.strictObject({
  instance_type: z.string().min(1).optional().describe('Instance type this override launches, e.g. "c7g.large".'),
  weighted_capacity: z
    .union([z.string(), z.number().int().positive()])
    .transform((v) => String(v))
    .optional()
    .describe('Capacity units one instance of this type counts for.'),
  launch_template_specification: launchTemplateSpecification
    .optional()
    .describe('A different launch template for this instance type.'),
});

export type LaunchTemplateOverride = z.output<typeof launchTemplateOverride>;

const instancesDistribution = z.strictObject({
  on_demand_allocation_strategy: z
    .string()
    .optional()
    .describe('"lowest-price" or "prioritized" (the order of the overrides).'),
  on_demand_base_capacity: z.number().int().nonnegative().optional().describe('On-Demand instances launched first.'),
  on_demand_percentage_above_base_capacity: z
    .number()
    .int()
    .min(0)
    .max(100)
    .optional()
    .describe('Percent of On-Demand (the rest is Spot) above the base capacity.'),
  spot_allocation_strategy: z
    .string()
    .optional()
    .describe('e.g. "price-capacity-optimized", "capacity-optimized", "lowest-price".'),
  spot_instance_pools: z.number().int().positive().optional().describe('Spot pools used with "lowest-price".'),
  spot_max_price: z.string().optional().describe('Highest Spot price per hour; empty means the On-Demand price.'),
});

export const mixedInstancesPolicy = z.strictObject({
  instances_distribution: instancesDistribution.optional().describe('On-Demand and Spot mix.'),
  launch_template: z
    .strictObject({
      launch_template_specification: launchTemplateSpecification
        .optional()
        .describe('The launch template the group launches from.'),
      overrides: z.array(launchTemplateOverride).default([]).describe('Instance types (and weights) to launch.'),
    })
    .optional()
    .describe('Launch template and instance type overrides.'),
});

export type MixedInstancesPolicyConfig = z.output<typeof mixedInstancesPolicy>;

const amiOptions = z.strictObject({
  ami_id: z
    .string()
    .regex(/^ami-[0-9a-zA-Z]+$/, 'expected an AMI id like "ami-0abc1234"')
    .describe('Launch the group from a version of the base launch template with this AMI (found, or created).'),
});

/**
 * Instances are members (the engine names the ones to terminate), so busy_check and drain
 * work as URLs; waymond cannot run a command on an instance, and never empties a group.
 */
export const capabilities = { members: true, runInMember: false, stopAll: false } as const;

export const schema = scalerSchema(
  'aws_ec2_asg',
  {
    region: z
      .string()
      .optional()
      .describe('AWS region; default from the standard chain (AWS_REGION, the shared config file).'),
    endpoint: z
      .url()
      .optional()
      .describe('Endpoint for the Auto Scaling and EC2 APIs (a VPC endpoint, LocalStack, a test server).'),
    ec2_endpoint: z.url().optional().describe('Endpoint for the EC2 API only, when it differs from `endpoint`.'),
    max_attempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(3)
      .describe('Attempts per API call, the SDK retrying throttling and 5xx answers with backoff in between.'),
    asg_name: z
      .string()
      .min(1)
      .optional()
      .describe('Group to scale when the input data carries no `asg_name` (one group per Buildkite queue otherwise).'),
    allow_create: z
      .boolean()
      .default(false)
      .describe('Create the group (CreateAutoScalingGroup) when it does not exist and instances are wanted.'),
    min_size: z.number().int().nonnegative().default(0).describe('MinSize of a group waymond creates.'),
    max_size: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('MaxSize of a group waymond creates (required to create one, here or in the input).'),
    capacity_rebalance: z.boolean().optional().describe('Capacity Rebalancing of a created group (Spot).'),
    default_cooldown: duration('DefaultCooldown of a created group ("60s", or seconds as a number).').optional(),
    vpc_zone_identifier: z.array(z.string().min(1)).default([]).describe('Subnet ids of a created group.'),
    placement_group: z.string().min(1).optional().describe('Placement group of a created group.'),
    tags: z
      .array(asgTag)
      .default([])
      .describe("Tags of the group, merged with the input's `tags` (input wins); kept up to date on every change."),
    launch_template: launchTemplateSpecification
      .optional()
      .describe('Launch template of a created group without a mixed instances policy.'),
    mixed_instances_policy: mixedInstancesPolicy.optional().describe('Mixed instances policy of a created group.'),
    base_launch_template: launchTemplateSpecification
      .optional()
      .describe(
        "Template whose version is looked up or created for `launch_template_version_options` (default: the group's launch template).",
      ),
    launch_template_version_options: amiOptions
      .optional()
      .describe('Pick the launch template version by AMI id (the input may give its own).'),
    honor_cooldown: z
      .boolean()
      .default(false)
      .describe("SetDesiredCapacity waits for the group's cooldown (the API then refuses changes inside it)."),
    disable_scale_in: z.boolean().default(false).describe("Never lower the group's capacity."),
    disable_scale_out: z.boolean().default(false).describe("Never raise the group's capacity."),
  },
  capabilities,
  {
    why: { on_shutdown: 'an Auto Scaling group keeps its capacity when waymond stops' },
  },
);

export type AsgConfig = z.output<typeof schema>;

/** The fields of an input event this scaler reads (others, like `desired`, are the engine's). */
export const inputSchema = z.object({
  asg_name: z.string().min(1).optional(),
  min_size: z.number().int().nonnegative().optional(),
  max_size: z.number().int().nonnegative().optional(),
  tags: z.array(asgTag).optional(),
  base_launch_template: launchTemplateSpecification.optional(),
  launch_template_version_options: amiOptions.optional(),
  launch_template_overrides: z.array(launchTemplateOverride).optional(),
});

export type AsgInput = z.output<typeof inputSchema>;

/** Config tags then input tags, one per key (the API rejects a key given twice). */
export function mergeTags(...lists: (AsgTag[] | undefined)[]): AsgTag[] {
  const byKey = new Map<string, AsgTag>();
  for (const list of lists) for (const tag of list ?? []) byKey.set(tag.key, tag);
  return [...byKey.values()];
}
