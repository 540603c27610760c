/**
 * The cluster's assembly: the `[cluster]` section → its lease backend and the ownership loop
 * the engine consults. src/daemon.ts calls this; the core never imports src/cluster.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { LeaseBackend } from './backend.js';
import { type ClusterConfig, clusterUrlOf, instanceIdOf } from './config.js';
import { EtcdBackend, etcdSecurityOf } from './etcd.js';
import { ClusterOwnership } from './ownership.js';
import { PostgresBackend } from './postgres.js';

/** `storeUrl` resolves `[store]`'s PostgreSQL URL, the default database of backend "postgres". */
export function createClusterOwnership(
  config: ClusterConfig,
  storeUrl: () => string | undefined,
  logger: Logger,
  registry?: Registry,
): ClusterOwnership {
  const instanceId = instanceIdOf(config);
  const log = logger.child({ component: 'cluster', instance: instanceId });
  const onError = (message: string) => log.warn(message);
  const requests = registry
    ? new Counter({
        name: 'waymond_cluster_backend_requests_total',
        help: 'Statements (PostgreSQL) or requests (etcd) sent to the cluster backend.',
        registers: [registry],
      })
    : undefined;
  const onRequest = () => requests?.inc();
  const common = { cluster: config.name, instanceId, leaseTtlMs: config.lease_ttl, onError, onRequest };
  const backend: LeaseBackend =
    config.backend === 'postgres'
      ? new PostgresBackend({ ...common, url: clusterUrlOf(config, storeUrl) })
      : new EtcdBackend({ ...common, ...etcdSecurityOf(config), endpoints: config.endpoints as string[] });
  return new ClusterOwnership({ config, instanceId, backend, logger: log, ...(registry ? { registry } : {}) });
}
