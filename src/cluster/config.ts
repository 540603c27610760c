/**
 * The `[cluster]` section: several instances of waymond on one config, each scaler owned by
 * one live instance at a time (leases with fencing on PostgreSQL or etcd). See docs/ha.md.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { duration } from '../core/duration.js';

export const clusterSchema = z
  .strictObject({
    backend: z
      .enum(['postgres', 'etcd'])
      .describe(
        "Where leases live: `postgres` (lease rows in [store]'s database, or `url`'s) or `etcd` (leases and transactions on `endpoints`).",
      ),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
      .optional()
      .describe(
        "PostgreSQL for the leases (backend `postgres`), without a password; default: `[store]`'s database (`url` or `dsn_env`), so decisions and leases live in one place.",
      ),
    dsn_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
      .optional()
      .describe(
        "Name of the environment variable holding the leases' PostgreSQL URL (instead of `url`, when it carries a password).",
      ),
    endpoints: z
      .array(z.url())
      .min(1)
      .optional()
      .describe(
        'etcd client URLs (backend `etcd`), e.g. `["http://10.0.0.1:2379", "http://10.0.0.2:2379"]`; `https://` ones for TLS (all or none), checked against the system CAs or `tls_ca_file`.',
      ),
    username_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
      .optional()
      .describe(
        'Name of the environment variable holding the etcd user (backend `etcd`, with etcd authentication on; with `password_env`).',
      ),
    password_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
      .optional()
      .describe(
        "Name of the environment variable holding that etcd user's password (backend `etcd`, with `username_env`).",
      ),
    tls_ca_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file of the CA that signed the etcd members' certificates (backend `etcd`; the endpoints are then `https://`).",
      ),
    tls_cert_file: z
      .string()
      .min(1)
      .optional()
      .describe('PEM client certificate for etcd (backend `etcd`, with `tls_key_file` and `tls_ca_file`).'),
    tls_key_file: z.string().min(1).optional().describe('PEM private key of `tls_cert_file` (backend `etcd`).'),
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, "_", "-" or "."')
      .default('waymond')
      .describe('Name of the cluster: instances with the same name and backend share the work.'),
    lease_ttl: duration(
      "How long a lease lives without renewal (renewed every third of it). A dead instance's scalers move within this plus one resync.",
    ).default(15_000),
    instance_id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, 'expected letters, digits, "_", "-", "." or ":"')
      .optional()
      .describe("This instance's id in the cluster (default: host name and pid, e.g. `web-1-4242`)."),
  })
  .superRefine((value, ctx) => {
    if (value.url !== undefined && value.dsn_env !== undefined)
      ctx.addIssue({ code: 'custom', path: ['dsn_env'], message: 'expected one of `url` and `dsn_env`, not both' });
    if (value.url !== undefined && hasPassword(value.url))
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'this URL carries a password; put it in an environment variable and name it in `dsn_env`',
      });
    if (value.backend === 'etcd' && value.dsn_env !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['dsn_env'],
        message: 'dsn_env is for backend "postgres"; etcd takes endpoints',
      });
    if (value.backend === 'etcd' && value.endpoints === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'backend "etcd" needs endpoints (["http://…:2379"])',
      });
    if (value.backend === 'etcd' && value.url !== undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'url is for backend "postgres"; etcd takes endpoints' });
    if (value.backend === 'postgres' && value.endpoints !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'endpoints is for backend "etcd"; postgres takes url',
      });
    const etcdOnly = ['username_env', 'password_env', 'tls_ca_file', 'tls_cert_file', 'tls_key_file'] as const;
    if (value.backend !== 'etcd')
      for (const field of etcdOnly)
        if (value[field] !== undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} is for backend "etcd"` });
    if ((value.username_env === undefined) !== (value.password_env === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [value.username_env === undefined ? 'username_env' : 'password_env'],
        message: 'etcd authentication needs both username_env and password_env',
      });
    if ((value.tls_cert_file === undefined) !== (value.tls_key_file === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [value.tls_cert_file === undefined ? 'tls_cert_file' : 'tls_key_file'],
        message: 'a client certificate needs both tls_cert_file and tls_key_file',
      });
    if (value.tls_cert_file !== undefined && value.tls_ca_file === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tls_ca_file'],
        message: 'a client certificate needs tls_ca_file (the CA of the etcd members)',
      });
    if (value.backend === 'etcd' && value.endpoints !== undefined) {
      const secure = value.endpoints.filter((e) => e.startsWith('https:')).length;
      if (secure !== 0 && secure !== value.endpoints.length)
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints'],
          message: 'expected every endpoint https:// or every one http://, not a mix',
        });
      if (value.tls_ca_file !== undefined && secure === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints'],
          message: 'tls_ca_file is set: the endpoints should be https://',
        });
    }
    if (value.lease_ttl < 1000)
      ctx.addIssue({ code: 'custom', path: ['lease_ttl'], message: 'lease_ttl must be at least 1s' });
  });

export type ClusterConfig = z.output<typeof clusterSchema>;

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/** What `[store]` says about its server, as far as the cluster needs it. */
export interface StoreServer {
  url?: string;
  dsn_env?: string;
}

/**
 * The check across sections: backend "postgres" needs a database, its own or the store's.
 * (A new owner starts from the count the last fenced apply recorded in the lease backend,
 * so the cluster itself does not need a shared store; see docs/ha.md.)
 */
export function clusterProblems(cluster: ClusterConfig, store: StoreServer): { path: string; message: string }[] {
  if (cluster.backend !== 'postgres') return [];
  if (cluster.url ?? cluster.dsn_env ?? store.url ?? store.dsn_env) return [];
  return [
    {
      path: 'url',
      message:
        'backend "postgres" needs a database: set [store] url (or dsn_env) to keep decisions and leases in one PostgreSQL, or [cluster] url',
    },
  ];
}

/** The leases' PostgreSQL URL: [cluster] url or dsn_env, else the store's (resolved by the caller). */
export function clusterUrlOf(
  cluster: ClusterConfig,
  storeUrl: () => string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (cluster.url !== undefined) return cluster.url;
  if (cluster.dsn_env !== undefined) {
    const value = env[cluster.dsn_env];
    if (value === undefined || value.trim() === '')
      throw new Error(
        `[cluster] dsn_env: environment variable ${cluster.dsn_env} is not set (it should hold the PostgreSQL URL)`,
      );
    return value;
  }
  const url = storeUrl();
  if (url === undefined)
    throw new Error('[cluster] backend "postgres" needs a database: set [store] url or [cluster] url');
  return url;
}

/** `instance_id`, or the default: host name and pid. */
export function instanceIdOf(config: ClusterConfig): string {
  return config.instance_id ?? `${hostname()}-${process.pid}`;
}
