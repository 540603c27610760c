/**
 * Rendezvous hashing, property-tested: one owner per key among the members, every member
 * agrees, and a join or a leave moves only the keys that must move.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupsOf, ownerOf, shareOf } from '../../src/cluster/rendezvous.js';
import { loadConfigText } from '../../src/config/load.js';
import { buildGraph } from '../../src/core/graph.js';
import { defaultRegistry } from '../../src/registry.js';

const id = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const members = fc.uniqueArray(id, { minLength: 1, maxLength: 8 });
const keys = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 60 });

describe('rendezvous hashing', () => {
  it('gives every key exactly one owner, a member, whatever order the members are listed in', () => {
    fc.assert(
      fc.property(members, keys, fc.integer(), (ms, ks, seed) => {
        const shuffled = [...ms].sort(() => (seed % 3) - 1);
        for (const k of ks) {
          const owner = ownerOf(k, ms);
          expect(ms).toContain(owner);
          expect(ownerOf(k, shuffled)).toBe(owner);
        }
        const shares = ms.flatMap((m) => shareOf(m, ks, ms));
        expect(shares.sort()).toEqual([...ks].sort());
      }),
    );
  });

  it('a member that leaves moves only its own keys; one that joins takes keys only for itself', () => {
    fc.assert(
      fc.property(members, keys, id, (ms, ks, newcomer) => {
        fc.pre(!ms.includes(newcomer));
        const grown = [...ms, newcomer];
        for (const k of ks) {
          const before = ownerOf(k, ms) as string;
          const after = ownerOf(k, grown) as string;
          // Joining: a key changes owner only to the newcomer.
          if (after !== before) expect(after).toBe(newcomer);
          // Leaving (the newcomer again): its keys go back, nobody else's move.
          expect(
            ownerOf(
              k,
              grown.filter((m) => m !== newcomer),
            ),
          ).toBe(before);
        }
      }),
    );
  });

  it('spreads 3,000 keys over 3 members within 10% of a third each', () => {
    const ks = Array.from({ length: 3000 }, (_, i) => `scaler.s${i}`);
    for (const m of ['a', 'b', 'c']) expect(Math.abs(shareOf(m, ks, ['a', 'b', 'c']).length - 1000)).toBeLessThan(100);
  });
});

describe('groups: what moves together', () => {
  it('a trigger, its connector and its scaler are one group, named by its smallest address; a cascade takes its tiers', () => {
    const text = `
[[trigger]]
type = "interval"
id = "tick"
every = "1s"
[[connect]]
type = "direct"
id = "c"
from = "trigger.tick"
to = "scaler.front"
[[scaler]]
type = "cascade"
id = "front"
tiers = [{ scaler = "scaler.t1", capacity = 2 }, { scaler = "scaler.t2" }]
[[scaler]]
type = "noop"
id = "t1"
[[scaler]]
type = "noop"
id = "t2"
[[scaler]]
type = "noop"
id = "alone"
`;
    const loaded = loadConfigText(text, '/x/w.toml', defaultRegistry(), {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const groups = groupsOf(buildGraph(loaded.config.components));
    expect(Object.fromEntries(groups)).toEqual({
      'trigger.tick': 'connector.c',
      'connector.c': 'connector.c',
      'scaler.front': 'connector.c',
      'scaler.t1': 'connector.c',
      'scaler.t2': 'connector.c',
      'scaler.alone': 'scaler.alone',
    });
  });
});
