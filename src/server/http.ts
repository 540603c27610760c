/**
 * The daemon's HTTP server (fastify): health, readiness, Prometheus metrics, the JSON API,
 * and the webhook routes components mount (`/hooks/<id>`). Bodies are kept raw (hooks need
 * the exact bytes for HMAC checks, and `curl -d` sends JSON with a form content type).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { errorMessage } from '../core/context.js';
import type { Engine } from '../core/engine.js';
import type { RouteHandler } from '../core/types.js';
import { MAX_HOOK_BODY_BYTES } from '../triggers/webhook.js';
import { mountDashboard } from './dashboard.js';

export interface HttpServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

function parseJsonBody(body: unknown): { ok: true; data: Record<string, unknown> } | { ok: false; message: string } {
  const raw = Buffer.isBuffer(body) ? body.toString('utf8').trim() : '';
  if (raw === '') return { ok: true, data: {} };
  try {
    const data = JSON.parse(raw) as unknown;
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      return { ok: false, message: 'body must be a JSON object' };
    return { ok: true, data: data as Record<string, unknown> };
  } catch (error) {
    return { ok: false, message: `body is not JSON: ${errorMessage(error)}` };
  }
}

export async function createHttpServer(
  engine: Engine,
  routes: { method: 'GET' | 'POST'; path: string; handler: RouteHandler }[],
  listen: { host: string; port: number },
): Promise<HttpServer> {
  // A little over the hook limit so the hook itself answers 413 with its own message.
  const app = Fastify({ logger: false, bodyLimit: MAX_HOOK_BODY_BYTES + 1 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (engine.isReady()) return { status: 'ready' };
    return reply.code(503).send({ status: 'starting' });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', engine.metrics.registry.contentType);
    return engine.metrics.registry.metrics();
  });
  app.get('/api/components', async () => ({ components: engine.listComponents() }));
  app.get<{ Querystring: { scaler?: string; limit?: string } }>('/api/decisions', async (req, reply) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1)
      return reply.code(400).send({ error: `limit must be a positive integer, found ${req.query.limit}` });
    // `?scaler=workers` and `?scaler=scaler.workers` both work.
    const scaler =
      req.query.scaler && !req.query.scaler.includes('.') ? `scaler.${req.query.scaler}` : req.query.scaler;
    return { decisions: engine.store.listDecisions({ scaler, limit }) };
  });
  app.get<{ Querystring: { limit?: string } }>('/api/events', async (req) => ({
    events: engine.recentEvents(Math.min(Number(req.query.limit ?? 50) || 50, 200)),
  }));
  // Live events as NDJSON, one per line, for `waymond tap`. `filter` keeps topics containing it.
  app.get<{ Querystring: { filter?: string } }>('/api/tap', (req, reply) => {
    const filter = req.query.filter ?? '';
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    reply.raw.flushHeaders(); // the client waits for headers before it starts reading
    const off = engine.bus.subscribeAll((event) => {
      if (!filter || event.topic.includes(filter)) reply.raw.write(`${JSON.stringify(event)}\n`);
    });
    req.raw.on('close', off);
  });
  app.post<{ Params: { address: string } }>('/api/fire/:address', async (req, reply) => {
    const body = parseJsonBody(req.body);
    if (!body.ok) return reply.code(400).send({ error: body.message });
    try {
      const event = await engine.fire(req.params.address, body.data);
      return reply.code(202).send({ event_id: event.id });
    } catch (error) {
      return reply.code(404).send({ error: errorMessage(error) });
    }
  });

  mountDashboard(app, engine);

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (req, reply) => {
        const result = await route.handler({
          method: req.method,
          headers: req.headers,
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
          query: req.query as Record<string, string>,
        });
        return reply.code(result.status).send(result.body ?? {});
      },
    });
  }

  const address = await app.listen({ host: listen.host, port: listen.port });
  return {
    url: address.replace('[::1]', 'localhost'),
    app,
    close: async () => {
      // Open tap streams would keep close() waiting forever.
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
