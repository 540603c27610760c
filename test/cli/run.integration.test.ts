import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Daemon, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-cli-'));
const id = `agents_${process.pid}`;
const agent = join(dir, 'agent.sh');
writeFileSync(agent, '#!/bin/sh\ntrap "exit 0" TERM\nwhile true; do sleep 1; done\n');
chmodSync(agent, 0o755);
const config = join(dir, 'waymond.toml');
writeFileSync(
  config,
  `[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "hook_to_agents"
from = "trigger.set"
to = "scaler.${id}"

[[scaler]]
type = "process"
id = "${id}"
command = "${agent}"
max = 5
resync_interval = "1s"
stop_timeout = "3s"
`,
);
const state = join(dir, 'state.db');
const members = () => pidsWithEnv('WAYMOND_SCALER', id);
/** A member's slot, from the marker the scaler gives it. */
const slotOf = (pid: number) =>
  readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find((v) => v.startsWith('WAYMOND_INDEX='));

async function post(url: string, body: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  await response.text();
  return response.status;
}

/** The count the scaler last observed, as /api/components shows it (absent before its first reconcile). */
async function observed(): Promise<number | undefined> {
  const body = (await (await fetch(`${daemon.url}/api/components`)).json()) as {
    components: { address: string; observed?: number }[];
  };
  return body.components.find((c) => c.address === `scaler.${id}`)?.observed;
}

let daemon: Daemon;

describe('waymond run, end to end with real processes', () => {
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    killAll(members());
  });

  it('a webhook sets the count (curl -d style body)', async () => {
    daemon = await startDaemon(['-c', config, '--state', state]);
    expect(await post(`${daemon.url}/hooks/set`, '{"desired":3}')).toBe(202);
    await waitUntil(() => members().length === 3, '3 members');
    const components = (await (await fetch(`${daemon.url}/api/components`)).json()) as {
      components: { address: string; observed?: number; targets?: { target: string; observed?: number }[] }[];
    };
    const status = components.components.find((c) => c.address === `scaler.${id}`);
    expect(status?.observed).toBe(3);
    // One target, '' (a process scaler serves one), with the same count as the sum.
    expect(status?.targets?.map((t) => [t.target, t.observed])).toEqual([['', 3]]);
  });

  it('a second daemon on the same state refuses to start, naming the first, and touches nothing', () => {
    const before = members().sort();
    const second = runCli(['run', '-c', config, '--state', state, '--http-port', '0']);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(
      `error: state ${state} is in use by pid ${daemon.child.pid}: another waymond runs on it (stop it first, or give this one its own --state)`,
    );
    expect(members().sort()).toEqual(before);
  });

  it('replaces a killed member', async () => {
    const [victim] = members();
    killAll([victim as number]);
    await waitUntil(() => members().length === 3 && !members().includes(victim as number), 'the member to be replaced');
  });

  it('bad desired values change nothing and are reported', async () => {
    const before = members().sort();
    for (const body of ['{"desired":-1}', '{"desired":2.5}', '{"desired":"4"}', '{"queue":"x"}']) {
      expect(await post(`${daemon.url}/hooks/set`, body)).toBe(202);
    }
    expect(await post(`${daemon.url}/hooks/set`, 'not json')).toBe(400);
    // The reconciler rejects bad input before anything is queued: once the four rejections
    // are stored, nothing of theirs can still change the target.
    let rejected: (string | null)[] = [];
    await waitUntil(async () => {
      const { decisions } = (await (await fetch(`${daemon.url}/api/decisions?scaler=${id}&limit=10`)).json()) as {
        decisions: { outcome: string; error: string | null }[];
      };
      rejected = decisions.filter((d) => d.outcome === 'rejected').map((d) => d.error);
      return rejected.length >= 4;
    }, 'four rejected decisions');
    expect(members().sort()).toEqual(before);
    expect(rejected).toEqual(
      expect.arrayContaining([
        'invalid desired: expected an integer >= 0, found -1',
        'invalid desired: expected an integer >= 0, found 2.5',
        'invalid desired: expected an integer >= 0, found string "4"',
        'missing desired count: expected "desired" (an integer >= 0) in the event data',
      ]),
    );
  });

  it('exposes the metrics', async () => {
    const text = await (await fetch(`${daemon.url}/metrics`)).text();
    // A scaler with one target has no target label: its series are what they always were.
    expect(text).toContain(`waymond_scaler_desired_replicas{scaler="scaler.${id}"} 3`);
    expect(text).toContain(`waymond_scaler_current_replicas{scaler="scaler.${id}"} 3`);
    expect(text).toMatch(new RegExp(`waymond_scaler_reconciles_total\\{scaler="scaler.${id}",outcome="rejected"\\} 4`));
    expect(text).toContain('waymond_component_errors_total');
    expect(text).toContain('waymond_reconcile_duration_seconds_bucket');
    expect(text).toContain('waymond_events_total{topic="trigger.set.output"}');
    // Its decisions are counted once, by waymond_decisions_total, not again per `.result` topic.
    expect(text).toContain(`waymond_decisions_total{scaler="scaler.${id}"`);
    expect(text).not.toContain(`waymond_events_total{topic="scaler.${id}.result"}`);
  });

  it('exits 0 on SIGTERM and leaves the members running (on_shutdown = "keep")', async () => {
    const before = members().sort();
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(members().sort()).toEqual(before);
  });

  it('a restart adopts the members: no duplicates', async () => {
    // A retry of this test must not meet the daemon its first attempt started.
    if (daemon.child.exitCode === null) await daemon.stop('SIGTERM');
    const before = members().sort();
    daemon = await startDaemon(['-c', config, '--state', state]);
    // The start re-asserts the saved count at once (a quiet resync: observed, nothing
    // stored or counted): a duplicate would be started by that reconcile, which has
    // finished once the scaler shows what it observed.
    await waitUntil(async () => (await observed()) === 3, 'the restart re-asserting the saved count');
    // Every member that outlived the daemon is adopted, not restarted; a slot whose member
    // is gone (none should be, but a loaded machine once showed one) is started again, so
    // the fleet is exactly 3 with one member per slot.
    const after = members().sort();
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(3);
    expect(new Set(after.map(slotOf)).size).toBe(3);
    expect(daemon.logs.some((l) => l.includes(`"adopted":${before.length}`))).toBe(true);
    expect(await post(`${daemon.url}/hooks/set`, '{"desired":1}')).toBe(202);
    await waitUntil(() => members().length === 1, 'scale-in to 1');
    expect(before).toContain(members()[0]);
  });
});
