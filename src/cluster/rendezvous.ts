/**
 * Spreading components over the live instances: rendezvous (highest random weight) hashing.
 * Every instance computes the same owner from the same member list, with no coordination,
 * and when a member joins or leaves only the keys it wins or held move (about 1/n of them).
 * Pure functions; the ownership loop (ownership.ts) takes the leases of its share.
 */
import { createHash } from 'node:crypto';
import type { Graph } from '../core/graph.js';

/** A 64-bit weight of (member, key); the member with the highest weight owns the key. */
export function weight(member: string, key: string): bigint {
  return createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The owner of `key` among `members` (undefined when there are none). Ties break by id. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const w = weight(member, key);
    if (w > bestWeight || (w === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}

/** The keys of `keys` that `member` owns among `members`. */
export function shareOf(member: string, keys: readonly string[], members: readonly string[]): string[] {
  return keys.filter((key) => ownerOf(key, members) === member);
}

/**
 * The unit of ownership: a connected part of the graph (a trigger, the connectors it feeds,
 * their scalers, a cascade and its tiers) moves as one, because its events flow over the
 * in-process bus. Each part is named by its smallest address. Returns address → group key.
 */
export function groupsOf(graph: Pick<Graph, 'components' | 'edges' | 'connections'>): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (a: string): string => {
    let root = a;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    parent.set(a, root);
    return root;
  };
  const union = (a: string, b: string): void => {
    if (!parent.has(a) || !parent.has(b)) return;
    const [x, y] = [find(a), find(b)];
    if (x === y) return;
    if (x < y) parent.set(y, x);
    else parent.set(x, y);
  };
  for (const c of graph.components) parent.set(c.address, c.address);
  for (const [a, b] of graph.edges) union(a, b);
  for (const c of graph.connections) {
    for (const from of c.from) union(from, c.connector);
    if (c.to) union(c.connector, c.to);
  }
  const groups = new Map<string, string>();
  for (const c of graph.components) groups.set(c.address, find(c.address));
  return groups;
}
