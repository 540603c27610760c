/**
 * The ownership tests every backend passes: three real CLI instances, 30 http scalers, a
 * recording target. `describeOwnership(name, clusterSection)` registers them for one backend.
 */

import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ownerOf } from '../../src/cluster/rendezvous.js';
import { ROOT, waitUntil } from '../helpers/daemon.js';
import {
  applierRuns,
  type ClusterUnderTest,
  clusterConfig,
  clusterStatus,
  clusterUnderTest,
  fire,
  type Instance,
  ownersOf,
  readyz,
  scalerIds,
  staleFences,
  startTarget,
  type Target,
} from './harness.js';

export const SCALERS = 30;
/** Polling triggers (http_client), each its own group. */
export const POLLERS = 3;

/** The real CLI, without blocking this process (the recording target lives in it). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}
export const LEASE_TTL_MS = 2000;
export const RESYNC_MS = 1000;
/** Slack over lease_ttl + resync for a loaded 2-core machine (the figures are in bench/). */
export const SLACK_MS = 4000;

const pollers = (): string[] => Array.from({ length: POLLERS }, (_, i) => `p${i}`);

export interface OwnershipFixture {
  target: Target;
  cluster: ClusterUnderTest;
  ids: string[];
  instances: Map<string, Instance>;
  /** A running, not stopped instance other than `not`. */
  other(not: string): Instance;
}

/** Every scaler's current count equals `desired`. */
export async function allAt(target: Target, ids: readonly string[], desired: number, what: string): Promise<void> {
  try {
    await waitUntil(() => ids.every((id) => target.counts.get(id) === desired), what, 30_000);
  } catch (error) {
    const off = ids.filter((id) => target.counts.get(id) !== desired).map((id) => `${id}=${target.counts.get(id)}`);
    throw new Error(`${(error as Error).message}; not there: ${off.join(', ')}`);
  }
}

export function useOwnershipCluster(section: () => string): OwnershipFixture {
  const fixture = { instances: new Map<string, Instance>() } as OwnershipFixture;
  beforeAll(async () => {
    fixture.target = await startTarget();
    fixture.ids = scalerIds(SCALERS);
    fixture.cluster = clusterUnderTest(
      clusterConfig({
        cluster: section(),
        target: fixture.target.url,
        scalers: SCALERS,
        hooks: SCALERS,
        pollers: POLLERS,
        leaseTtl: `${LEASE_TTL_MS}ms`,
        resync: `${RESYNC_MS}ms`,
      }),
    );
    fixture.instances = fixture.cluster.instances;
    await Promise.all(['a', 'b', 'c'].map((id) => fixture.cluster.start(id)));
    fixture.other = (not) => {
      const found = [...fixture.instances.values()].find((i) => i.id !== not && i.child.exitCode === null);
      if (!found) throw new Error('no other instance running');
      return found;
    };
  });
  afterAll(async () => {
    await fixture.cluster?.close();
    await fixture.target?.close();
  });
  return fixture;
}

/**
 * Waits until one instance's view has every scaler leased, each lease held by the instance
 * rendezvous hashing picks among `live` (the spread has settled after a join or a death).
 */
export async function leasedAmong(
  from: Instance,
  ids: readonly string[],
  live: readonly string[],
): Promise<Map<string, string>> {
  let owners = new Map<string, string>();
  await waitUntil(
    async () => {
      const status = await clusterStatus(from).catch(() => undefined);
      if (!status) return false;
      owners = new Map();
      for (const lease of status.leases) {
        if (lease.holder !== ownerOf(lease.key, [...live].sort())) return false;
        for (const c of lease.components) if (c.startsWith('scaler.')) owners.set(c.slice(7), lease.holder);
      }
      return ids.every((id) => owners.has(id));
    },
    `every scaler leased by its rendezvous owner among ${live.join(', ')}`,
    30_000,
  );
  return owners;
}

export function ownershipTests(f: OwnershipFixture): void {
  it('spreads the scalers over the three instances, and each scaler is applied by exactly one', async () => {
    const a = f.instances.get('a') as Instance;
    const owners = await leasedAmong(a, f.ids, ['a', 'b', 'c']);
    // Every desired count is sent to instance a; those a does not own are forwarded.
    for (const id of f.ids) await fire(a, id, 2);
    await allAt(f.target, f.ids, 2, 'every scaler at 2');
    for (const id of f.ids) {
      const appliers = new Set(f.target.applies.filter((x) => x.scaler === id).map((x) => x.instance));
      expect([...appliers], id).toEqual([owners.get(id)]);
    }
    const spread = new Set(owners.values());
    expect(spread.size).toBe(3);
  });

  it('a polling trigger polls only on the instance that owns it, and moves with its lease', async () => {
    const a = f.instances.get('a') as Instance;
    await leasedAmong(a, f.ids, ['a', 'b', 'c']);
    const status = await clusterStatus(a);
    const since = Date.now();
    await waitUntil(
      () => pollers().every((p) => f.target.polls.filter((x) => x.poller === p && x.at > since).length >= 3),
      'every poller to poll three times',
    );
    for (const p of pollers()) {
      const holder = status.leases.find((l) => l.components.includes(`trigger.poll_${p}`))?.holder;
      const who = new Set(f.target.polls.filter((x) => x.poller === p && x.at > since).map((x) => x.instance));
      expect([...who], p).toEqual([holder]);
    }
  });

  it('waymond cluster status lists the three instances, what each owns, and every lease', async () => {
    const a = f.instances.get('a') as Instance;
    const { code, stdout } = await cli(['cluster', 'status', '--url', a.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/seen from a: healthy/);
    for (const id of ['a', 'b', 'c'])
      expect(stdout).toMatch(new RegExp(`^${id}\\s+\\S+\\s+\\d+ scalers: scaler\\.`, 'm'));
    const leaseLines = stdout.split('\n').filter((l) => /^connector\.to_s\d\d\s/.test(l));
    expect(leaseLines).toHaveLength(SCALERS);
    expect(stdout.split('\n').filter((l) => /^connector\.poll_to_p\d\s/.test(l))).toHaveLength(POLLERS);
    const json = JSON.parse((await cli(['cluster', 'status', '--url', a.url, '--json'])).stdout) as {
      members: { owns: string[] }[];
    };
    const owned = json.members.flatMap((m) => m.owns.filter((x) => /^scaler\.s\d\d$/.test(x)));
    expect(owned.sort()).toEqual(f.ids.map((id) => `scaler.${id}`));
  });

  it('a webhook posted to an instance that does not own its scaler takes effect through the owner', async () => {
    const a = f.instances.get('a') as Instance;
    const owners = await ownersOf(a);
    const id = f.ids.find((x) => owners.get(x) !== 'b') as string;
    const b = f.instances.get('b') as Instance;
    const response = await fetch(`${b.url}/hooks/hook_${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ desired: 5 }),
    });
    expect(response.status).toBe(202);
    await waitUntil(() => f.target.counts.get(id) === 5, `${id} at 5`);
    const last = f.target.applies.filter((x) => x.scaler === id).at(-1);
    expect(last?.instance).toBe(owners.get(id));
    expect(last?.instance).not.toBe('b');
    await fire(a, id, 2);
    await waitUntil(() => f.target.counts.get(id) === 2, `${id} back at 2`);
  });

  it('kill -9 of an owner: its scalers are taken over and applied by the others within lease_ttl + resync', async () => {
    const a = f.instances.get('a') as Instance;
    const owners = await leasedAmong(a, f.ids, ['a', 'b', 'c']);
    const victim = f.instances.get('c') as Instance;
    const theirs = f.ids.filter((id) => owners.get(id) === 'c');
    expect(theirs.length).toBeGreaterThan(0);
    const before = f.target.applies.length;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    // The fleets drift while nobody watches them: only a new owner's resync heals them,
    // with the count the dead owner applied last (read from the lease backend).
    for (const id of theirs) f.target.counts.set(id, 0);
    await allAt(f.target, theirs, 2, "the dead owner's scalers healed by the others");
    const healed = f.target.applies.slice(before).filter((x) => theirs.includes(x.scaler));
    const firstByOthers = Math.min(...healed.map((x) => x.at));
    expect(firstByOthers - killedAt).toBeLessThan(LEASE_TTL_MS + RESYNC_MS + SLACK_MS);
    expect(healed.every((x) => x.instance !== 'c')).toBe(true);
    // New counts after the failover reach every scaler, from a survivor.
    for (const id of f.ids) await fire(a, id, 3);
    await allAt(f.target, f.ids, 3, 'every scaler at 3 after the failover');
    // Every poller polls again, from a survivor.
    const afterKill = Date.now();
    await waitUntil(
      () => pollers().every((p) => f.target.polls.some((x) => x.poller === p && x.at > afterKill)),
      'every poller polling after the failover',
    );
    expect(f.target.polls.filter((x) => x.at > afterKill && x.instance === 'c')).toEqual([]);
    for (const id of f.ids) {
      const runs = applierRuns(f.target.applies, id);
      expect(new Set(runs).size, `${id}: ${runs.join(' → ')}`).toBe(runs.length);
    }
    // Every apply carried its lease's token, and no token ever went backwards per scaler.
    expect(staleFences(f.target.applies)).toEqual([]);
  });

  it('SIGSTOP an owner past its lease, change the counts, SIGCONT: it applies nothing after it resumes', async () => {
    const a = f.instances.get('a') as Instance;
    const b = f.instances.get('b') as Instance;
    const owners = await leasedAmong(a, f.ids, ['a', 'b']);
    const theirs = f.ids.filter((id) => owners.get(id) === 'b');
    expect(theirs.length).toBeGreaterThan(0);
    b.child.kill('SIGSTOP');
    try {
      // Past its lease: a holds every scaler (b's leases expired and a took them).
      await leasedAmong(a, f.ids, ['a']);
      for (const id of f.ids) await fire(a, id, 4);
      await allAt(f.target, f.ids, 4, 'every scaler at 4 while b is stopped');
    } finally {
      b.child.kill('SIGCONT');
    }
    const resumedAt = Date.now();
    // b resumes with old desired counts (2 or 3) in memory and its resync timers overdue.
    await waitUntil(
      () => b.logs.some((line) => line.includes('standing down') || line.includes('lease could not be renewed')),
      'b to find it lost its leases',
    );
    // b rejoins and takes its share back (after a let the leases expire): by then every
    // overdue resync of its old counts has run, under no lease.
    await leasedAmong(a, f.ids, ['a', 'b']);
    const fromB = f.target.applies.filter((x) => x.instance === 'b' && x.at >= resumedAt);
    expect(fromB).toEqual([]);
    expect(staleFences(f.target.applies)).toEqual([]);
    expect(f.ids.every((id) => f.target.counts.get(id) === 4)).toBe(true);
  });

  it('/readyz is ready on a healthy instance', async () => {
    const a = f.instances.get('a') as Instance;
    expect((await readyz(a)).status).toBe(200);
  });
}
