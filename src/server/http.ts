/**
 * The daemon's HTTP server (fastify): health, readiness, Prometheus metrics, the JSON API,
 * and the webhook routes components mount (`/hooks/<id>`). Bodies are kept raw (hooks need
 * the exact bytes for HMAC checks, and `curl -d` sends JSON with a form content type).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { errorMessage } from '../core/context.js';
import type { Engine, MountedRoute } from '../core/engine.js';
import { MAX_HOOK_BODY_BYTES } from '../triggers/webhook.js';
import { mountDashboard } from './dashboard.js';
import { watchFileDescriptors } from './fd-watch.js';
import { bearerMatches, jsonDepth, MAX_JSON_DEPTH, needsToken } from './guard.js';
import type { Metrics } from './metrics.js';

/** A tap client further behind than this is dropped rather than buffered without bound. */
export const MAX_TAP_BACKLOG_BYTES = 1024 * 1024;

export interface ListenOptions {
  host: string;
  port: number;
  /** When set, every /api route needs `Authorization: Bearer <token>`. */
  token?: string;
  /** PEM certificate and key: the listener speaks HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** False when a separate [hooks] listener serves `/hooks/*`. */
  serveHooks?: boolean;
  /** More admin routes the assembly adds (`/api/cluster`); they sit behind the same token. */
  mount?: (app: FastifyInstance) => void;
}

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

/**
 * A fastify app with the settings both listeners share: raw bodies (with the nesting bound),
 * timeouts, JSON errors and, when given a certificate, HTTPS.
 */
function baseApp(listen: ListenOptions): FastifyInstance {
  // Node checks the request and header timeouts only every connectionsCheckingInterval
  // (30 s by default), so a slow client was held up to a minute; check every second.
  const checking = { connectionsCheckingInterval: 1_000 };
  const app = Fastify({
    logger: false,
    ...(listen.tls ? { https: { cert: listen.tls.cert, key: listen.tls.key, ...checking } } : { http: checking }),
    // A little over the hook limit so the hook itself answers 413 with its own message.
    bodyLimit: MAX_HOOK_BODY_BYTES + 1,
    // A client that sends its request slowly, or idles on a kept-alive connection, is not
    // held forever (the tap's long response is not bound by these).
    requestTimeout: 30_000,
    connectionTimeout: 0,
    // Longer than clients keep idle sockets (undici: 4 s, load balancers: 60 s), so a client
    // never reuses a socket the server is closing at that moment ("other side closed").
    keepAliveTimeout: 65_000,
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = 10_000;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    // Refused at the door: a body nested thousands deep parses, but every later step that
    // walks or saves it (the state of a scaler) would fail on it forever.
    const first = (body as Buffer).subarray(0, 64).toString('utf8').trimStart()[0];
    if ((first === '{' || first === '[') && jsonDepth((body as Buffer).toString('utf8')) > MAX_JSON_DEPTH) {
      const error = new Error(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`) as Error & {
        statusCode: number;
      };
      error.statusCode = 400;
      done(error, undefined);
      return;
    }
    done(null, body);
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    reply.code(status).send({ error: error.message });
  });
  return app;
}

/**
 * `/hooks/*`, dispatched at request time: the listeners are bound before any component is
 * created (a port in use must fail the start before a scaler adopts members), so the routes
 * components mount arrive after fastify stopped taking new ones.
 */
function mountHooks(app: FastifyInstance, routes: MountedRoute[]): void {
  app.route({
    method: ['GET', 'POST'],
    url: '/hooks/*',
    handler: async (req, reply) => {
      const path = req.url.split('?')[0];
      const route = routes.find((r) => r.method === req.method && r.path === path);
      if (!route) return reply.code(404).send({ error: `no hook at ${req.method} ${path}` });
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

async function listenOn(app: FastifyInstance, listen: ListenOptions): Promise<HttpServer> {
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

/** The public webhook listener ([hooks]): `/hooks/*` and `/healthz`, nothing else. */
export async function createHooksServer(routes: MountedRoute[], listen: ListenOptions): Promise<HttpServer> {
  const app = baseApp(listen);
  app.get('/healthz', async () => ({ status: 'ok' }));
  mountHooks(app, routes);
  return listenOn(app, listen);
}

/** The admin listener ([http]); it serves the hooks too unless `serveHooks` is false. */
export async function createHttpServer(
  engine: Engine,
  routes: MountedRoute[],
  listen: ListenOptions,
  metrics: Metrics,
): Promise<HttpServer> {
  const app = baseApp(listen);

  const token = listen.token;
  if (token) {
    app.addHook('onRequest', async (req, reply) => {
      if (!needsToken(req.url) || bearerMatches(req.headers.authorization, token)) return;
      reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="waymond"')
        .send({ error: 'this API needs "Authorization: Bearer <token>" (the token [http] token_env names)' });
      return reply;
    });
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!engine.isReady()) return reply.code(503).send({ status: 'starting' });
    const failing = engine.failing();
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.text();
  });
  app.get('/api/components', async () => ({ components: engine.listComponents() }));
  app.get<{ Querystring: { scaler?: string; limit?: string } }>('/api/decisions', async (req, reply) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1)
      return reply.code(400).send({ error: `limit must be a positive integer, found ${req.query.limit}` });
    // `?scaler=workers` and `?scaler=scaler.workers` both work.
    const scaler =
      req.query.scaler && !req.query.scaler.includes('.') ? `scaler.${req.query.scaler}` : req.query.scaler;
    return { decisions: await engine.store.listDecisions({ scaler, limit }) };
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
      if (filter && !event.topic.includes(filter)) return;
      // A client that does not read would make the daemon buffer every event for it.
      if (reply.raw.writableLength > MAX_TAP_BACKLOG_BYTES) {
        off();
        reply.raw.destroy();
        return;
      }
      reply.raw.write(`${JSON.stringify(event)}\n`);
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

  // SIGHUP's twin: re-read the config file; an invalid one changes nothing (400, every error).
  app.post('/api/reload', async (_req, reply) => {
    const result = await engine.reloadConfig();
    return reply.code(result.ok ? 200 : 400).send(result);
  });

  mountDashboard(app, engine, { registry: metrics.registry });
  listen.mount?.(app);

  if (listen.serveHooks !== false) mountHooks(app, routes);
  const server = await listenOn(app, listen);
  const unwatch = watchFileDescriptors(engine.logger, () => metrics.fdExhausted.inc());
  return {
    ...server,
    close: async () => {
      unwatch();
      await server.close();
    },
  };
}
