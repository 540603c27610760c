/**
 * Capabilities decide the schema: an option a scaler cannot honour is a load error naming
 * the field and saying why, never a setting that validates and silently does nothing.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import type { ScalerDefinition } from '../../src/core/types.js';
import { defaultRegistry } from '../../src/registry.js';

const registry = defaultRegistry();

/** The smallest valid table of each type, without type and id. */
const BASE: Record<string, string> = {
  aws_ec2_asg: 'region = "eu-west-1"\n',
  docker: 'image_name = "agent"\n',
  exec: 'command = "true"\n',
  http: 'url = "http://127.0.0.1:8080/size"\n',
  kubernetes: 'name = "web"\n',
  kubernetes_jobs: 'mode = "jobs"\njob_template = { template = { spec = { restartPolicy = "Never" } } }\n',
  noop: '',
  nomad: 'job = "agents"\ngroup = "workers"\n',
  process: 'command = "sleep"\n',
  ssh: 'command = "sleep 300"\nhosts = [{ host = "build-1" }]\n',
};

function errors(type: string, extra: string): string[] {
  const base = BASE[type] ?? '';
  const realType = type === 'kubernetes_jobs' ? 'kubernetes' : type;
  const text = `[[scaler]]\ntype = "${realType}"\nid = "s"\n${base}${extra}`;
  const result = loadConfigText(text, '/tmp/w.toml', registry, {});
  return result.ok ? [] : result.issues.filter((i) => i.severity === 'error').map(formatIssue);
}

const NO_MEMBERS: [string, string][] = [
  ['exec', 'exec'],
  ['http', 'http'],
  ['noop', 'noop'],
  ['nomad', 'nomad'],
  ['kubernetes', 'kubernetes in replicas mode'],
];

describe('scaler options exist only where they work', () => {
  it('every scaler type declares its capabilities', () => {
    for (const def of registry.all('scaler') as ScalerDefinition[]) {
      expect(Object.keys(def.capabilities).sort(), def.type).toEqual(['members', 'runInMember', 'stopAll']);
    }
  });

  describe.each(NO_MEMBERS)('%s (no members)', (type, label) => {
    it.each([
      ['busy_check', 'busy_check = "test -e /tmp/busy"', 'check'],
      ['busy_check', 'busy_check = "http://127.0.0.1:9/busy/{{id}}"', 'check'],
      ['drain', 'drain = "kill -USR1 $WAYMOND_MEMBER_PID"', 'drain'],
      ['drain_timeout', 'drain_timeout = "30m"', 'drain'],
      ['force_after', 'force_after = "1h"', 'choose among'],
    ])('%s is a load error: %s', (field, line, verb) => {
      expect(errors(type, `${line}\n`)).toEqual([
        `error: /tmp/w.toml: scaler.s: field "${field}": ${field} is not supported by ${label}: it has no members to ${verb}`,
      ]);
    });

    it('on_shutdown = "stop" is a load error; "keep" stays valid', () => {
      const [error] = errors(type, 'on_shutdown = "stop"\n');
      expect(error).toMatch(
        new RegExp(
          `^error: /tmp/w\\.toml: scaler\\.s: field "on_shutdown": on_shutdown = "stop" is not supported by ${label}: `,
        ),
      );
      expect(errors(type, 'on_shutdown = "keep"\n')).toEqual([]);
    });
  });

  it.each([
    [
      'nomad',
      'on_shutdown = "stop" is not supported by nomad: it has no members to stop; the target keeps its count when waymond stops',
    ],
    [
      'kubernetes',
      'on_shutdown = "stop" is not supported by kubernetes in replicas mode: a workload keeps its replicas when waymond stops',
    ],
    [
      'kubernetes_jobs',
      'on_shutdown = "stop" is not supported by kubernetes in jobs mode: its Jobs run to the end when waymond stops',
    ],
    [
      'aws_ec2_asg',
      'on_shutdown = "stop" is not supported by aws_ec2_asg: an Auto Scaling group keeps its capacity when waymond stops',
    ],
  ])('%s: on_shutdown = "stop" says why', (type, message) => {
    expect(errors(type, 'on_shutdown = "stop"\n')).toEqual([
      `error: /tmp/w.toml: scaler.s: field "on_shutdown": ${message}`,
    ]);
  });

  it('another value of on_shutdown is the plain enum error', () => {
    expect(errors('noop', 'on_shutdown = "kill"\n')).toEqual([
      'error: /tmp/w.toml: scaler.s: field "on_shutdown": expected one of "keep", found string "kill"',
    ]);
  });

  describe.each([
    ['aws_ec2_asg', 'aws_ec2_asg'],
    ['kubernetes_jobs', 'kubernetes in jobs mode'],
  ])('%s (members, but no command in them)', (type, label) => {
    it.each([
      ['busy_check', 'busy_check = "test -e /tmp/busy"'],
      ['drain', 'drain = "kill -USR1 1"'],
    ])('%s as a command is a load error', (field, line) => {
      expect(errors(type, `${line}\n`)).toEqual([
        `error: /tmp/w.toml: scaler.s: field "${field}": ${field} is a command, but ${label} cannot run commands in its members; use an http(s) URL`,
      ]);
    });

    it('URL forms, drain_timeout and force_after are valid', () => {
      expect(
        errors(
          type,
          'busy_check = "https://agents.internal/busy/{{id}}"\ndrain = "http://agents.internal/drain/{{id}}"\ndrain_timeout = "30m"\nforce_after = "2h"\n',
        ),
      ).toEqual([]);
    });
  });

  it.each(['docker', 'process', 'ssh'])(
    '%s takes every member option, commands included, and on_shutdown = "stop"',
    (type) => {
      expect(
        errors(
          type,
          'busy_check = "test -e /tmp/busy"\ndrain = "kill -USR1 1"\ndrain_timeout = "30m"\nforce_after = "2h"\non_shutdown = "stop"\n',
        ),
      ).toEqual([]);
    },
  );
});

describe('kubernetes: one schema per mode, a field of the other mode is an error', () => {
  const REPLICAS_ALLOWED =
    'type, id, min, max, count, resync_interval, retry_initial, retry_max, placement, on_shutdown, mode, kubeconfig, context, in_cluster, namespace, api_version, kind, name, resource';
  const JOBS_ALLOWED =
    'type, id, min, max, count, resync_interval, retry_initial, retry_max, placement, on_shutdown, busy_check, drain, drain_timeout, force_after, mode, kubeconfig, context, in_cluster, namespace, job_template, job_template_file, history_limit';

  it.each([
    ['job_template', 'job_template = { template = {} }'],
    ['job_template_file', 'job_template_file = "job.yaml"'],
    ['history_limit', 'history_limit = 3'],
  ])('replicas mode refuses %s', (field, line) => {
    expect(errors('kubernetes', `${line}\n`)).toEqual([
      `error: /tmp/w.toml: scaler.s: field "${field}": ${field} is not a field of kubernetes mode "replicas" (only of mode "jobs"); allowed: ${REPLICAS_ALLOWED}`,
    ]);
  });

  it.each([
    ['kind', 'kind = "StatefulSet"'],
    ['api_version', 'api_version = "apps/v1"'],
    ['resource', 'resource = "widgets"'],
  ])('jobs mode refuses %s', (field, line) => {
    expect(errors('kubernetes_jobs', `${line}\n`)).toEqual([
      `error: /tmp/w.toml: scaler.s: field "${field}": ${field} is not a field of kubernetes mode "jobs" (only of mode "replicas"); allowed: ${JOBS_ALLOWED}`,
    ]);
  });

  it('jobs mode refuses name, saying where a Job gets its name', () => {
    expect(errors('kubernetes_jobs', 'name = "web"\n')).toEqual([
      'error: /tmp/w.toml: scaler.s: field "name": name is for replicas mode; in jobs mode name Jobs with job_template.metadata.name',
    ]);
  });

  it('an unknown mode names the two', () => {
    const result = loadConfigText(
      '[[scaler]]\ntype = "kubernetes"\nid = "s"\nmode = "pods"\n',
      '/tmp/w.toml',
      registry,
      {},
    );
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([
      'error: /tmp/w.toml: scaler.s: field "mode": expected one of "replicas", "jobs", found string "pods"',
    ]);
  });

  it('an unknown field lists what its own mode allows', () => {
    const [error] = errors('kubernetes_jobs', 'replicas = 3\n');
    expect(error).toMatch(
      /^error: \/tmp\/w\.toml: scaler\.s: field "replicas": unknown field; allowed: .*job_template/,
    );
    expect(error).not.toContain('api_version');
  });

  it('parses each mode to its own type', () => {
    const def = registry.get('scaler', 'kubernetes') as ScalerDefinition;
    expect(def.schema.parse({ type: 'kubernetes', id: 's', name: 'web' })).toMatchObject({
      mode: 'replicas',
      kind: 'Deployment',
    });
    const jobs = def.schema.parse({ type: 'kubernetes', id: 's', mode: 'jobs', job_template_file: 'j.yaml' });
    expect(jobs).toMatchObject({ mode: 'jobs', history_limit: { successful: 10, failed: 10 } });
    expect(jobs).not.toHaveProperty('kind');
  });
});
