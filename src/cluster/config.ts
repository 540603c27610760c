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
      .describe("Where leases live: `postgres` (lease rows in `url`'s database) or `etcd` (leases and transactions)."),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
      .optional()
      .describe('PostgreSQL connection URL (backend `postgres`), e.g. `postgres://waymond@db/waymond`.'),
    endpoints: z
      .array(z.url())
      .min(1)
      .optional()
      .describe('etcd client URLs (backend `etcd`), e.g. `["http://10.0.0.1:2379", "http://10.0.0.2:2379"]`.'),
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
    if (value.backend === 'postgres' && value.url === undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'backend "postgres" needs url (postgres://…)' });
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
    if (value.lease_ttl < 1000)
      ctx.addIssue({ code: 'custom', path: ['lease_ttl'], message: 'lease_ttl must be at least 1s' });
  });

export type ClusterConfig = z.output<typeof clusterSchema>;

/** `instance_id`, or the default: host name and pid. */
export function instanceIdOf(config: ClusterConfig): string {
  return config.instance_id ?? `${hostname()}-${process.pid}`;
}
