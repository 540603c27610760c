/**
 * The Engine turns a checked component graph into running components: scalers (each behind
 * its Reconciler) first, then connectors, then triggers, wired over the bus:
 *
 *   trigger ─<t>.output─▶ connector ─<to>.input─▶ Reconciler(scaler) ─<s>.result─▶
 *
 * It builds nothing of its own beyond that: the store, the metrics sink, the HTTP server
 * and how components are created are handed to it (src/daemon.ts assembles the daemon's;
 * the simulator and tests assemble theirs). `stop()` is the graceful shutdown.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { EventBus } from './bus.js';
import { type Clock, RealClock } from './clock.js';
import { type ContextServices, createComponentContext, errorMessage } from './context.js';
import type { Connection, Graph, GraphComponent } from './graph.js';
import { type MetricsSink, noMetrics } from './metrics.js';
import type { ReconcilerSettings } from './reconciler.js';
import type { Store } from './store.js';
import type {
  Address,
  ComponentContext,
  Connector,
  EventData,
  Member,
  RouteHandler,
  Scaler,
  ScalerHandle,
  ScalerStatus,
  Trigger,
  WaymondEvent,
} from './types.js';
import { type ScalerRuntime, wireScaler } from './wire-scaler.js';

/** A route a component mounted (`POST /hooks/<id>`), for the HTTP server to serve. */
export interface MountedRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: RouteHandler;
}

export interface RunningServer {
  /** Base URL (with the real port when 0 was asked). */
  url: string;
  close(): Promise<void>;
}

/**
 * Binds the HTTP listeners (src/server/http.ts, at the edge) before any component is
 * created: a port in use fails the start before a scaler adopts or starts a member. Routes
 * components mount later land in `routes` (the same array), which the server reads per
 * request. The engine closes it at shutdown.
 */
export type ServeHttp = (engine: Engine, routes: MountedRoute[]) => Promise<RunningServer>;

/** Creates one component from its checked config; default: its definition's `create`. */
export type ComponentFactory = (component: GraphComponent, ctx: ComponentContext) => unknown | Promise<unknown>;

export interface EngineOptions {
  logger: Logger;
  clock?: Clock;
  store: Store;
  metrics?: MetricsSink;
  dryRun?: boolean;
  /** Directory of the config file: relative paths in a config are relative to it. */
  configDir: string;
  /** Directory for files components own (member logs…). */
  stateDir: string;
  /** Without it the engine runs without an HTTP server. */
  serve?: ServeHttp;
  create?: ComponentFactory;
  /** How long in-flight reconciles may take at shutdown. */
  shutdownGraceMs?: number;
}

interface RunningScaler extends ScalerRuntime {
  component: GraphComponent;
  onShutdown: 'keep' | 'stop';
  /** What `inner.status()` said last (to log a change once, and count restarts by delta). */
  seen: { health: string; restarts: number };
}

/** One target of a scaler in /api/components. */
export interface TargetView {
  target: string;
  desired?: number;
  observed?: number;
  ready?: number;
  members?: Member[];
}

export interface ComponentStatus {
  address: Address;
  kind: string;
  type: string;
  /** Summed over the scaler's targets. */
  desired?: number;
  observed?: number;
  ready?: number;
  members?: unknown[];
  min?: number;
  max?: number;
  /** Each target on its own (a single one, keyed '', for most scalers). */
  targets?: TargetView[];
  /** The scaler's own health (`Scaler.status`): 'ok', or 'crash_looping' with a reason. */
  health?: string;
  reason?: string;
  lastExitCode?: number | null;
}

const RECENT_EVENTS = 200;

export class Engine {
  readonly bus: EventBus;
  readonly metrics: MetricsSink;
  readonly clock: Clock;
  readonly store: Store;
  /** Directory for files components own (member logs…). */
  readonly stateDir: string;
  private readonly abort = new AbortController();
  private scalers = new Map<Address, RunningScaler>();
  private connectors = new Map<Address, Connector>();
  private triggers = new Map<Address, Trigger>();
  private unsubscribe: (() => void)[] = [];
  private routes: MountedRoute[] = [];
  private server?: RunningServer;
  private recent: WaymondEvent[] = [];
  private ready = false;
  /** Triggers that could not start, with why: /readyz reports them. */
  private notStarted = new Map<Address, string>();
  private stopping?: Promise<void>;

  constructor(
    readonly graph: Graph,
    private readonly options: EngineOptions,
  ) {
    this.clock = options.clock ?? new RealClock();
    // Every component and in-flight poll listens for shutdown on this one signal.
    setMaxListeners(0, this.abort.signal);
    this.stateDir = options.stateDir;
    this.metrics = options.metrics ?? noMetrics;
    this.bus = new EventBus(this.clock, options.logger);
    this.store = options.store;
    this.bus.subscribeAll((event) => this.observeEvent(event));
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** Base URL of the HTTP server once started (with the real port when 0 was asked). */
  get url(): string | undefined {
    return this.server?.url;
  }

  isReady(): boolean {
    return this.ready;
  }

  /**
   * What keeps the daemon from being ready once started: the triggers that could not start
   * (a secret variable unset, a bad URL: they never retry, so they stay until a restart),
   * and those that started but say they can never work (`Trigger.problem`).
   */
  failing(): { address: Address; reason: string }[] {
    const failing = [...this.notStarted].map(([address, reason]) => ({ address, reason }));
    for (const [address, trigger] of this.triggers) {
      const reason = this.notStarted.has(address) ? undefined : trigger.problem?.();
      if (reason) failing.push({ address, reason });
    }
    return failing;
  }

  recentEvents(limit = 50): WaymondEvent[] {
    return this.recent.slice(-limit);
  }

  scaler(address: Address): ScalerHandle | undefined {
    return this.scalers.get(address)?.handle;
  }

  async start(): Promise<void> {
    const services: ContextServices = {
      clock: this.clock,
      bus: this.bus,
      store: this.store,
      logger: this.options.logger,
      http: { route: (method, path, handler) => this.routes.push({ method, path, handler }) },
      scalers: { get: (address) => this.scaler(address) },
      signal: this.abort.signal,
      stateDir: this.stateDir,
      configDir: this.options.configDir,
      dryRun: this.options.dryRun ?? false,
    };
    const { graph } = this;

    if (this.options.serve) this.server = await this.options.serve(this, this.routes);
    // Scalers first: connectors and cascades look them up when they are created.
    for (const c of graph.scalers) await this.startScaler(c, services);
    const connections = new Map(graph.connections.map((x) => [x.connector, x]));
    for (const c of graph.connectors) await this.startConnector(c, services, connections.get(c.address));
    const triggers: [GraphComponent, Trigger][] = [];
    for (const c of graph.triggers) {
      const hasInput = graph.inputs.has(c.address);
      const ctx = createComponentContext('trigger', c.id, services, { hasInput });
      const trigger = (await this.create(c, ctx)) as Trigger;
      this.triggers.set(c.address, trigger);
      if (hasInput) {
        this.unsubscribe.push(
          this.bus.subscribe(`${c.address}.input`, c.address, (event) => {
            if (!trigger.fire) throw new Error(`${c.address} cannot be fired`);
            return trigger.fire(event);
          }),
        );
      }
      triggers.push([c, trigger]);
    }

    for (const running of this.scalers.values()) running.reconciler.start();
    for (const [c, trigger] of triggers) {
      try {
        await trigger.start();
      } catch (error) {
        this.notStarted.set(c.address, `could not start: ${errorMessage(error)}`);
        this.bus.emit(`${c.address}.error`, c.address, { error: `could not start: ${errorMessage(error)}` });
      }
    }
    this.ready = true;
    this.logger.info(
      {
        scalers: this.scalers.size,
        connectors: this.connectors.size,
        triggers: this.triggers.size,
        url: this.url,
        dry_run: services.dryRun,
      },
      'waymond started',
    );
  }

  /** Fires a component by address, as `waymond fire` and `POST /api/fire/<address>` do. */
  async fire(address: Address, data: EventData): Promise<WaymondEvent> {
    if (this.triggers.has(address)) {
      const trigger = this.triggers.get(address) as Trigger;
      if (trigger.fire) {
        const event = this.bus.emit(`${address}.input`, 'api', data);
        // When nothing is connected to the input the bus has no subscriber: call fire directly.
        if (!this.graph.inputs.has(address)) await trigger.fire(event);
        return event;
      }
      return this.bus.emit(`${address}.output`, address, data);
    }
    if (this.scalers.has(address)) return this.bus.emit(`${address}.input`, 'api', data);
    throw new Error(`no trigger or scaler at ${address}`);
  }

  /** A running scaler's own status (`Scaler.status`), if it reports one. */
  scalerStatus(address: Address): ScalerStatus | undefined {
    return this.scalers.get(address)?.inner.status?.();
  }

  listComponents(): ComponentStatus[] {
    return this.graph.components.map((c) => {
      const base: ComponentStatus = { address: c.address, kind: c.kind, type: c.definition.type };
      const running = this.scalers.get(c.address);
      if (!running) return base;
      const { handle } = running;
      const observed = handle.lastObserved();
      const status = running.inner.status?.();
      return {
        ...base,
        ...(status
          ? {
              health: status.health,
              ...(status.reason !== undefined ? { reason: status.reason } : {}),
              ...(status.lastExitCode !== undefined ? { lastExitCode: status.lastExitCode } : {}),
            }
          : {}),
        min: handle.min,
        max: handle.max,
        desired: handle.lastDesired(),
        observed: observed?.count,
        ready: observed?.ready ?? observed?.count,
        members: observed?.members,
        targets: handle.targets().map((t) => ({
          target: t.target,
          desired: t.desired,
          observed: t.observed?.count,
          ready: t.observed?.ready ?? t.observed?.count,
          members: t.observed?.members,
        })),
      };
    });
  }

  /** Graceful shutdown: stop triggers, let in-flight reconciles finish (bounded), close the store. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.ready = false;
    const grace = this.options.shutdownGraceMs ?? 30_000;
    for (const [address, trigger] of this.triggers) {
      await Promise.resolve()
        .then(() => trigger.stop())
        .catch((error) => this.logger.warn({ address, err: errorMessage(error) }, 'trigger stop failed'));
    }
    for (const off of this.unsubscribe) off();
    for (const [address, connector] of this.connectors) {
      await Promise.resolve()
        .then(() => connector.stop?.())
        .catch((error) => this.logger.warn({ address, err: errorMessage(error) }, 'connector stop failed'));
    }
    await Promise.all([...this.scalers.values()].map((s) => s.reconciler.stop(grace)));
    this.abort.abort(new Error('waymond is shutting down'));
    for (const [address, running] of this.scalers) {
      try {
        if (running.onShutdown === 'stop' && !this.options.dryRun) await running.inner.stopAll?.();
        await running.inner.close?.();
      } catch (error) {
        this.logger.warn({ address, err: errorMessage(error) }, 'scaler shutdown failed');
      }
    }
    await this.server?.close();
    this.store.close();
    this.logger.info('waymond stopped');
  }

  private create(c: GraphComponent, ctx: ComponentContext): unknown | Promise<unknown> {
    return this.options.create ? this.options.create(c, ctx) : c.definition.create(c.config, ctx);
  }

  private async startScaler(c: GraphComponent, services: ContextServices): Promise<void> {
    const ctx = createComponentContext('scaler', c.id, services, { hasInput: true });
    const scaler = (await this.create(c, ctx)) as Scaler;
    const settings = c.config as unknown as ReconcilerSettings & { on_shutdown?: 'keep' | 'stop' };
    const runtime = wireScaler({
      address: c.address,
      scaler,
      settings,
      clock: this.clock,
      bus: this.bus,
      store: this.store,
      logger: ctx.logger,
      dryRun: services.dryRun,
      metrics: this.metrics,
    });
    const running: RunningScaler = {
      ...runtime,
      component: c,
      onShutdown: settings.on_shutdown ?? 'keep',
      seen: { health: 'ok', restarts: 0 },
    };
    this.scalers.set(c.address, running);
    this.unsubscribe.push(
      this.bus.subscribe(`${c.address}.input`, c.address, (event) => runtime.reconciler.handleInput(event)),
    );
    if (scaler.status)
      this.unsubscribe.push(
        this.bus.subscribe(`${c.address}.result`, c.address, () => this.checkStatus(running, ctx.logger)),
      );
  }

  /** After each reconcile: log a change of the scaler's health once, count its restarts. */
  private checkStatus(running: RunningScaler, logger: Logger): void {
    const status = running.inner.status?.();
    if (!status) return;
    const restarts = status.restarts ?? 0;
    if (restarts > running.seen.restarts)
      this.metrics.countMemberRestarts?.(running.component.address, restarts - running.seen.restarts);
    if (status.health !== running.seen.health) {
      const fields = { health: status.health, was: running.seen.health, lastExitCode: status.lastExitCode };
      if (status.health === 'ok') logger.info(fields, 'scaler is healthy again');
      else logger.warn({ ...fields, reason: status.reason }, `scaler is ${status.health}: ${status.reason ?? ''}`);
    }
    running.seen = { health: status.health, restarts };
  }

  private async startConnector(
    c: GraphComponent,
    services: ContextServices,
    connection: Connection | undefined,
  ): Promise<void> {
    const ctx = createComponentContext('connector', c.id, services, { hasInput: false });
    const connector = (await this.create(c, ctx)) as Connector;
    this.connectors.set(c.address, connector);
    const to = connection?.to;
    const forward = (outputs: EventData[]) => {
      for (const data of outputs) {
        this.bus.emit(`${c.address}.output`, c.address, data);
        if (to) this.bus.emit(`${to}.input`, c.address, data);
      }
    };
    for (const from of connection?.from ?? []) {
      this.unsubscribe.push(
        this.bus.subscribe(`${from}.output`, c.address, async (event) => forward(await connector.handle(event))),
      );
      if (connector.handleError) {
        const onError = connector.handleError.bind(connector);
        this.unsubscribe.push(
          this.bus.subscribe(`${from}.error`, c.address, async (event) => forward(await onError(event))),
        );
      }
    }
  }

  private observeEvent(event: WaymondEvent): void {
    this.metrics.countEvent(event.topic);
    if (event.topic.endsWith('.error')) this.metrics.countComponentError(event.source);
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS * 2) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
  }
}
