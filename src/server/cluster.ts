/**
 * `GET /api/cluster`: this instance's view of its cluster (the live instances, which
 * components each owns, every lease's holder, token and time left), for people and for
 * `waymond cluster status`. Behind the admin token like every /api route.
 */
import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../core/context.js';

export interface ClusterStatusSource {
  view(): Promise<unknown>;
}

export function mountCluster(app: FastifyInstance, cluster: ClusterStatusSource): void {
  app.get('/api/cluster', async (_req, reply) => {
    try {
      return await cluster.view();
    } catch (error) {
      return reply.code(503).send({ error: `cluster backend unreachable: ${errorMessage(error)}` });
    }
  });
}
