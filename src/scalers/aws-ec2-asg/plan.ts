/**
 * The calls an apply makes, decided from the group as the last observe saw it. Pure: apply
 * runs exactly this list and a dry run prints it, so the two cannot drift apart.
 */
import type { AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import type { Member, MemberState, Plan } from '../../core/types.js';
import type { AsgConfig, AsgTag } from './schema.js';

/** Lifecycle states from the API reference, as waymond's member states. */
export function memberState(lifecycle: string | undefined): MemberState {
  if (!lifecycle) return 'unknown';
  if (lifecycle.startsWith('Pending')) return 'starting';
  if (lifecycle === 'InService') return 'running';
  if (lifecycle.startsWith('Terminat') || lifecycle.startsWith('Detach')) return 'stopping';
  return 'unknown';
}

export type AsgCall =
  /** The group is missing: create it (picking a launch template version by AMI first, when asked). */
  | { action: 'CreateAutoScalingGroup'; group: string; desired: number; ami?: string }
  | { action: 'CreateOrUpdateTags'; group: string; tags: AsgTag[] }
  | { action: 'TerminateInstanceInAutoScalingGroup'; group: string; instanceId: string }
  | { action: 'SetDesiredCapacity'; group: string; desired: number; honorCooldown: boolean };

export interface AsgPlan {
  calls: AsgCall[];
  /** Appended to the decision's reason (bounds moved the count, a direction is disabled). */
  note?: string;
  /** The desired count after the group's MinSize..MaxSize, when that moved it. */
  bounded?: { requested: number; value: number; bound: string };
  /** Chosen members that are protected from scale-in: never terminated. */
  protectedSkipped: string[];
  from?: number;
  to?: number;
}

type Settings = Pick<AsgConfig, 'disable_scale_in' | 'disable_scale_out' | 'honor_cooldown'>;

export function planAsgCalls(
  plan: Pick<Plan, 'desired' | 'remove'>,
  name: string,
  group: AutoScalingGroup | null | undefined,
  settings: Settings,
  tags: AsgTag[],
  ami?: string,
): AsgPlan {
  if (!group) {
    return {
      calls: [{ action: 'CreateAutoScalingGroup', group: name, desired: plan.desired, ...(ami ? { ami } : {}) }],
      protectedSkipped: [],
    };
  }
  const current = group.DesiredCapacity ?? 0;
  const min = group.MinSize ?? 0;
  const max = group.MaxSize ?? plan.desired;
  const target = Math.min(max, Math.max(min, plan.desired));
  const bounded =
    target === plan.desired
      ? undefined
      : { requested: plan.desired, value: target, bound: plan.desired > max ? `MaxSize ${max}` : `MinSize ${min}` };
  const boundNote = bounded
    ? `moved to ${target} by the group's ${target < plan.desired ? 'MaxSize' : 'MinSize'}`
    : undefined;
  const base = { protectedSkipped: [], ...(bounded ? { bounded } : {}) };
  if (target === current) return { calls: [], ...base, ...(boundNote ? { note: boundNote } : {}) };
  if (target > current && settings.disable_scale_out)
    return { calls: [], ...base, note: 'scale-out disabled (disable_scale_out): group left as is' };
  if (target < current && settings.disable_scale_in)
    return { calls: [], ...base, note: 'scale-in disabled (disable_scale_in): group left as is' };

  const calls: AsgCall[] = [];
  const changed = changedTags(group, tags);
  if (changed.length > 0) calls.push({ action: 'CreateOrUpdateTags', group: name, tags: changed });
  const protectedSkipped: string[] = [];
  let remaining = current;
  if (target < current) {
    const terminated = namedTerminations(group, plan.remove, current - target);
    for (const id of terminated.ids)
      calls.push({ action: 'TerminateInstanceInAutoScalingGroup', group: name, instanceId: id });
    protectedSkipped.push(...terminated.protectedSkipped);
    remaining -= terminated.ids.length;
  }
  if (remaining !== target)
    calls.push({ action: 'SetDesiredCapacity', group: name, desired: target, honorCooldown: settings.honor_cooldown });
  return { calls, ...base, protectedSkipped, ...(boundNote ? { note: boundNote } : {}), from: current, to: target };
}

/** Up to `surplus` of the chosen members that are in the group, not leaving, not protected. */
function namedTerminations(
  group: AutoScalingGroup,
  remove: Member[],
  surplus: number,
): { ids: string[]; protectedSkipped: string[] } {
  const byId = new Map((group.Instances ?? []).map((i) => [i.InstanceId, i]));
  const ids: string[] = [];
  const protectedSkipped: string[] = [];
  for (const member of remove) {
    if (ids.length >= surplus) break;
    const instance = byId.get(member.id);
    if (!instance || memberState(instance.LifecycleState) === 'stopping') continue;
    if (instance.ProtectedFromScaleIn) {
      protectedSkipped.push(member.id);
      continue;
    }
    ids.push(member.id);
  }
  return { ids, protectedSkipped };
}

/** The config's and input's tags that the group lacks or has with another value. */
function changedTags(group: AutoScalingGroup, tags: AsgTag[]): AsgTag[] {
  const existing = new Map((group.Tags ?? []).map((t) => [t.Key, t]));
  return tags.filter((t) => {
    const e = existing.get(t.key);
    return !e || e.Value !== t.value || (e.PropagateAtLaunch ?? false) !== t.propagate_at_launch;
  });
}

/** A call as a dry run shows it: the API action and its parameters. */
export function describeAsgCall(call: AsgCall): string {
  switch (call.action) {
    case 'CreateAutoScalingGroup':
      return `CreateAutoScalingGroup AutoScalingGroupName=${call.group} DesiredCapacity=${call.desired}${call.ami ? ` (launch template version for ${call.ami})` : ''}`;
    case 'CreateOrUpdateTags':
      return `CreateOrUpdateTags AutoScalingGroupName=${call.group} ${call.tags.map((t) => `${t.key}=${t.value}`).join(' ')}`;
    case 'TerminateInstanceInAutoScalingGroup':
      return `TerminateInstanceInAutoScalingGroup InstanceId=${call.instanceId} ShouldDecrementDesiredCapacity=true`;
    case 'SetDesiredCapacity':
      return `SetDesiredCapacity AutoScalingGroupName=${call.group} DesiredCapacity=${call.desired} HonorCooldown=${call.honorCooldown}`;
  }
}
