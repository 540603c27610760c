/** The [cluster] section: defaults, and errors that name the field and the fix. */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { clusterUrlOf, instanceIdOf } from '../../src/cluster/config.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';

const noop = '[[scaler]]\ntype = "noop"\nid = "s"\n';

function load(section: string) {
  return loadConfigText(`[cluster]\n${section}\n${noop}`, '/etc/waymond/w.toml', defaultRegistry(), {}, 'w.toml');
}

function errors(section: string): string[] {
  const result = load(section);
  return result.ok ? [] : result.issues.map(formatIssue);
}

describe('[cluster]', () => {
  it('defaults: lease_ttl 15s, name "waymond", instance id host name and pid', () => {
    const result = load('backend = "postgres"\nurl = "postgres://db/waymond"');
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const cluster = result.config.cluster;
    expect(cluster).toMatchObject({ backend: 'postgres', lease_ttl: 15_000, name: 'waymond' });
    expect(instanceIdOf(cluster as NonNullable<typeof cluster>)).toBe(`${hostname()}-${process.pid}`);
  });

  it('backend "postgres" without a url of its own uses [store]\'s database', () => {
    const result = loadConfigText(
      `[store]\nurl = "postgres://db/waymond"\n[cluster]\nbackend = "postgres"\n${noop}`,
      '/etc/waymond/w.toml',
      defaultRegistry(),
      {},
    );
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const cluster = result.config.cluster as NonNullable<typeof result.config.cluster>;
    expect(clusterUrlOf(cluster, () => result.config.store.url)).toBe('postgres://db/waymond');
  });

  it.each([
    [
      "postgres without a database of its own or the store's",
      'backend = "postgres"',
      'error: w.toml: cluster: field "url": backend "postgres" needs a database: set [store] url (or dsn_env) to keep decisions and leases in one PostgreSQL, or [cluster] url',
    ],
    [
      'a password in the url',
      'backend = "postgres"\nurl = "postgres://w:secret@db/x"',
      'error: w.toml: cluster: field "url": this URL carries a password; put it in an environment variable and name it in `dsn_env`',
    ],
    [
      'etcd without endpoints',
      'backend = "etcd"',
      'error: w.toml: cluster: field "endpoints": backend "etcd" needs endpoints (["http://…:2379"])',
    ],
    [
      'etcd with a url',
      'backend = "etcd"\nendpoints = ["http://127.0.0.1:2379"]\nurl = "postgres://db/x"',
      'error: w.toml: cluster: field "url": url is for backend "postgres"; etcd takes endpoints',
    ],
    [
      'a lease under a second',
      'backend = "etcd"\nendpoints = ["http://127.0.0.1:2379"]\nlease_ttl = "200ms"',
      'error: w.toml: cluster: field "lease_ttl": lease_ttl must be at least 1s',
    ],
    [
      'etcd with a user but no password',
      'backend = "etcd"\nendpoints = ["http://127.0.0.1:2379"]\nusername_env = "ETCD_USER"',
      'error: w.toml: cluster: field "password_env": etcd authentication needs both username_env and password_env',
    ],
    [
      'etcd with a client certificate but no key',
      'backend = "etcd"\nendpoints = ["https://127.0.0.1:2379"]\ntls_ca_file = "/ca.pem"\ntls_cert_file = "/c.pem"',
      'error: w.toml: cluster: field "tls_key_file": a client certificate needs both tls_cert_file and tls_key_file',
    ],
    [
      'etcd TLS on http:// endpoints',
      'backend = "etcd"\nendpoints = ["http://127.0.0.1:2379"]\ntls_ca_file = "/ca.pem"',
      'error: w.toml: cluster: field "endpoints": tls_ca_file is set: the endpoints should be https://',
    ],
    [
      'etcd endpoints mixing https:// and http://',
      'backend = "etcd"\nendpoints = ["https://10.0.0.1:2379", "http://10.0.0.2:2379"]',
      'error: w.toml: cluster: field "endpoints": expected every endpoint https:// or every one http://, not a mix',
    ],
    [
      'an etcd field on backend postgres',
      'backend = "postgres"\nurl = "postgres://db/x"\ntls_ca_file = "/ca.pem"',
      'error: w.toml: cluster: field "tls_ca_file": tls_ca_file is for backend "etcd"',
    ],
  ])('%s', (_name, section, message) => {
    expect(errors(section)).toContain(message);
  });
});
