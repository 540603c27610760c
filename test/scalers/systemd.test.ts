/** The systemd scaler's pure parts: names, parsing systemctl's output, the list of calls. */
import { describe, expect, it } from 'vitest';
import type { Member, Plan } from '../../src/core/types.js';
import { type CallInput, planCalls } from '../../src/scalers/systemd/calls.js';
import { systemdSchema } from '../../src/scalers/systemd/schema.js';
import {
  dropInText,
  parseListUnits,
  parseShow,
  parseTimestamp,
  Template,
  withDetails,
} from '../../src/scalers/systemd/units.js';

const t = new Template('agent@.service');

describe('systemd scaler pieces', () => {
  it('takes only numbered instances of its own template as members', () => {
    expect(
      [
        'agent@1.service',
        'agent@12.service',
        'agent@0.service',
        'agent@01.service',
        'agent@x.service',
        'agent-x@1.service',
        'agent@1.socket',
      ].map((u) => t.slotOf(u)),
    ).toEqual([1, 12, undefined, undefined, undefined, undefined, undefined]);
    const listed = parseListUnits(
      t,
      JSON.stringify([
        { unit: 'agent@2.service', load: 'loaded', active: 'active', sub: 'running' },
        { unit: 'agent@1.service', load: 'loaded', active: 'failed', sub: 'failed' },
        { unit: 'agent@3.service', load: 'loaded', active: 'inactive', sub: 'dead' },
        { unit: 'agent@web.service', load: 'loaded', active: 'active', sub: 'running' },
      ]),
    );
    expect(listed.map((i) => [i.unit, i.active])).toEqual([
      ['agent@1.service', 'failed'],
      ['agent@2.service', 'active'],
    ]);
    expect(() => parseListUnits(t, 'Failed to connect to bus')).toThrow(/not JSON/);
  });

  it('reads MainPID and ActiveEnterTimestamp (microseconds kept) from systemctl show', () => {
    const shown = parseShow(
      'Id=agent@2.service\nActiveState=active\nSubState=running\nMainPID=82\nActiveEnterTimestamp=Tue 2026-12-01 08:05:38.345768 UTC\n\nId=agent@1.service\nMainPID=0\nActiveState=failed\nActiveEnterTimestamp=\n',
    );
    const [failed, active] = withDetails(
      parseListUnits(
        t,
        JSON.stringify([
          { unit: 'agent@1.service', load: 'loaded', active: 'failed', sub: 'failed' },
          { unit: 'agent@2.service', load: 'loaded', active: 'active', sub: 'running' },
        ]),
      ),
      shown,
    );
    expect(active).toMatchObject({ pid: 82, since: Date.UTC(2026, 11, 1, 8, 5, 38) + 345.768 });
    expect(failed?.pid).toBeUndefined();
    expect(parseTimestamp('n/a')).toBeUndefined();
  });

  it('escapes the drop-in for systemd: quotes, backslashes and % specifiers', () => {
    expect(dropInText('scaler.a', { A: 'x "y" \\ 100%' })).toContain('Environment="A=x \\"y\\" \\\\ 100%%"');
  });

  it('rejects a unit that is not a template, naming the field', () => {
    const r = systemdSchema.safeParse({ type: 'systemd', id: 'a', unit: 'agent.service' });
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['unit', 'expected a template unit like "buildkite-agent@.service"'],
    ]);
  });

  const member = (id: string, state: Member['state'] = 'running', startedAt = 0): Member => ({ id, state, startedAt });
  const input = (over: Partial<CallInput> = {}): CallInput => ({
    template: t,
    user: false,
    stopTimeoutMs: 30_000,
    perHostMax: 2,
    hosts: [
      { name: 'a:22', prefix: 'ssh root@a:22 ' },
      { name: 'b:22', prefix: 'ssh root@b:22 ' },
    ],
    stopping: [],
    ...over,
  });
  const plan = (members: Member[], add: number, remove: Member[] = []): Plan => ({
    desired: 0,
    observed: { count: members.length, members },
    add,
    remove,
    data: {},
    reason: 'test',
  });

  it('places new instances least loaded first, lowest free slot per host, skipping slots still stopping or failed', () => {
    const members = [member('a:22/agent@1.service'), member('a:22/agent@3.service', 'exited')];
    const { calls, unplaced } = planCalls(plan(members, 3), input({ stopping: ['b:22/agent@1.service'] }));
    expect(calls.map((c) => `${c.host} ${c.kind} ${c.units.join(' ')}`)).toEqual([
      'b:22 start agent@2.service agent@3.service',
      'a:22 start agent@2.service',
    ]);
    expect(unplaced).toBe(0);
  });

  it('a down host takes nothing; what does not fit is counted as unplaced', () => {
    const { calls, unplaced } = planCalls(
      plan([], 3),
      input({
        hosts: [
          { name: 'a:22', prefix: '', down: 'refused' },
          { name: 'b:22', prefix: '' },
        ],
      }),
    );
    expect(calls.map((c) => `${c.host} ${c.units.join(' ')}`)).toEqual(['b:22 agent@1.service agent@2.service']);
    expect(unplaced).toBe(1);
  });

  it('stops per host, bounded by stop_timeout then SIGKILL; the env drop-in goes before starts', () => {
    const gone = [member('a:22/agent@2.service'), member('b:22/agent@1.service')];
    const { calls } = planCalls(plan(gone, 0, gone), input({ stopTimeoutMs: 2500 }));
    expect(calls.map((c) => c.shown)).toEqual([
      'ssh root@a:22 systemctl --no-pager --no-ask-password stop agent@2.service (after 3s: systemctl --no-pager --no-ask-password kill --signal=SIGKILL agent@2.service)',
      'ssh root@b:22 systemctl --no-pager --no-ask-password stop agent@1.service (after 3s: systemctl --no-pager --no-ask-password kill --signal=SIGKILL agent@1.service)',
    ]);
    const local = planCalls(
      plan([], 1),
      input({ user: true, hosts: [{ name: 'local', prefix: '' }], dropIn: { path: 'P', text: 'T', keys: ['A'] } }),
    );
    expect(local.calls.map((c) => c.kind)).toEqual(['drop-in', 'start']);
    expect(local.calls[1]?.script).toBe(
      'systemctl --user --no-pager --no-ask-password start --no-block agent@1.service',
    );
  });
});
