/**
 * The Engine turns a checked component graph into running components: scalers (each behind
 * its Reconciler) first, then connectors, then triggers, wired over the bus:
 *
 *   trigger ─<t>.output─▶ connector ─<to>.input─▶ Reconciler(scaler) ─<s>.result─▶
 *
 * It builds nothing of its own beyond that: the store, the metrics sink, the HTTP server
 * and how components are created are handed to it (src/daemon.ts assembles the daemon's;
 * the simulator and tests assemble theirs). `stop()` is the graceful shutdown; `reload(graph)`
 * applies a new graph as a diff (src/core/reload-diff.ts): what did not change keeps running.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { EventBus } from './bus.js';
import { type Clock, RealClock } from './clock.js';
import { type ContextServices, createComponentContext, errorMessage } from './context.js';
import { capEventData } from './event-cap.js';
import type { Connection, Graph, GraphComponent } from './graph.js';
import { type MetricsSink, noMetrics } from './metrics.js';
import type { Ownership } from './ownership.js';
import type { ReconcilerSettings } from './reconciler.js';
import { planReload } from './reload-diff.js';
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
  /**
   * In a cluster (src/cluster): scalers apply and triggers run only while this instance owns
   * them; a trigger is started when its lease is gained and stopped when it is lost.
   */
  ownership?: Ownership;
}

interface RunningScaler extends ScalerRuntime {
  component: GraphComponent;
  onShutdown: 'keep' | 'stop';
  /** What `inner.status()` said last (to log a change once, and count restarts by delta). */
  seen: { health: string; restarts: number };
}

/** What a reload did, for the log and `POST /api/reload`. */
export interface ReloadResult {
  ok: boolean;
  /** Why nothing changed (an invalid file: every error). */
  errors?: string[];
  added?: Address[];
  removed?: Address[];
  restarted?: Address[];
  unchanged?: number;
  /** Parts of the file that changed but only take effect on a restart ([http], [store]). */
  not_applied?: string[];
}

/** Re-reads the config at the edge: a checked graph, or every error found. */
export type ReloadSource = () =>
  | { ok: true; graph: Graph; notApplied: string[] }
  | { ok: false; errors: string[] }
  | Promise<{ ok: true; graph: Graph; notApplied: string[] } | { ok: false; errors: string[] }>;

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
  /** 'ok', 'crash_looping' (`Scaler.status`) or 'failing' (a permanent API error), with a reason. */
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
  /** Bus subscriptions and shutdown signal of each component, so one can go on its own. */
  private subscriptions = new Map<Address, (() => void)[]>();
  private aborts = new Map<Address, AbortController>();
  private routes: MountedRoute[] = [];
  private routeOwners = new Map<MountedRoute, Address>();
  private services?: ContextServices;
  private reloadSource?: ReloadSource;
  private reloading: Promise<unknown> = Promise.resolve();
  private server?: RunningServer;
  private recent: WaymondEvent[] = [];
  private ready = false;
  /** Triggers that could not start, with why: /readyz reports them. */
  private notStarted = new Map<Address, string>();
  private stopping?: Promise<void>;
  /** Triggers created but left stopped because another instance owns them. */
  private dormant = new Set<Address>();

  constructor(
    private current: Graph,
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

  /** The graph running now (a reload replaces it). */
  get graph(): Graph {
    return this.current;
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
   * those that started but say they can never work (`Trigger.problem`, a permanent API
   * error included), and scalers failing with a permanent error (retried once per resync).
   */
  failing(): { address: Address; reason: string }[] {
    const failing = [...this.notStarted].map(([address, reason]) => ({ address, reason }));
    for (const [address, trigger] of this.triggers) {
      const reason = this.notStarted.has(address) || this.dormant.has(address) ? undefined : trigger.problem?.();
      if (reason) failing.push({ address, reason });
    }
    // Scalers whose last reconcile failed with a permanent error (401/403, not found…).
    for (const [address, running] of this.scalers) {
      for (const f of running.reconciler.failing())
        failing.push({ address, reason: f.target ? `[${f.target}] ${f.reason}` : f.reason });
    }
    const cluster = this.options.ownership?.problem();
    if (cluster) failing.push({ address: 'cluster', reason: cluster });
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
      http: { route: () => undefined }, // each component gets its own mount (serviceFor)
      scalers: { get: (address) => this.scaler(address) },
      signal: this.abort.signal,
      stateDir: this.stateDir,
      configDir: this.options.configDir,
      dryRun: this.options.dryRun ?? false,
    };
    this.services = services;
    const { graph } = this;
    // Component state is read from memory from here on: load it before any component asks.
    await this.store.open();

    if (this.options.serve) this.server = await this.options.serve(this, this.routes);
    // Scalers first: connectors and cascades look them up when they are created.
    for (const c of graph.scalers) await this.startScaler(c, services);
    const connections = new Map(graph.connections.map((x) => [x.connector, x]));
    for (const c of graph.connectors) await this.startConnector(c, services, connections.get(c.address));
    const triggers: [GraphComponent, Trigger][] = [];
    for (const c of graph.triggers) triggers.push([c, await this.createTrigger(c, services)]);

    for (const running of this.scalers.values()) running.reconciler.start();
    for (const [c, trigger] of triggers) await this.startTrigger(c, trigger);
    this.options.ownership?.onChange((address, owned) => void this.ownershipChanged(address, owned));
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
      const failing = running.reconciler.failing();
      // A permanent API failure outranks the members' own health: nothing can change meanwhile.
      const status: { health: string; reason?: string; lastExitCode?: number | null } | undefined =
        failing.length > 0
          ? {
              health: 'failing',
              reason: failing.map((f) => (f.target ? `[${f.target}] ${f.reason}` : f.reason)).join('; '),
            }
          : running.inner.status?.();
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
    for (const offs of this.subscriptions.values()) for (const off of offs) off();
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
    await this.store.close();
    this.logger.info('waymond stopped');
  }

  /** Where `POST /api/reload` and SIGHUP get the new graph from (src/cli/run.ts sets it). */
  setReloadSource(source: ReloadSource): void {
    this.reloadSource = source;
  }

  /** Re-reads the config through the reload source and applies it; one reload at a time. */
  reloadConfig(): Promise<ReloadResult> {
    const run = this.reloading.then(async (): Promise<ReloadResult> => {
      if (!this.reloadSource) return { ok: false, errors: ['this daemon has no config file to reload'] };
      if (!this.ready || this.stopping) return { ok: false, errors: ['waymond is not running (starting or stopping)'] };
      let loaded: Awaited<ReturnType<ReloadSource>>;
      try {
        loaded = await this.reloadSource();
      } catch (error) {
        loaded = { ok: false, errors: [errorMessage(error)] };
      }
      if (!loaded.ok) {
        for (const error of loaded.errors) this.logger.error({ error }, 'reload refused: invalid config');
        this.logger.error({ errors: loaded.errors.length }, 'reload refused: nothing changed');
        return { ok: false, errors: loaded.errors };
      }
      for (const part of loaded.notApplied)
        this.logger.warn({ section: part }, `reload: ${part} changed; it takes effect on a restart only`);
      const result = await this.reload(loaded.graph);
      return { ...result, not_applied: loaded.notApplied };
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies a new checked graph as a diff: unchanged components keep running untouched;
   * changed and new scalers are (re)created and adopt their members; removed scalers leave
   * theirs as on_shutdown says; changed connectors and triggers (and those that feed a
   * recreated scaler, which hold its handle) are restarted.
   */
  async reload(next: Graph): Promise<ReloadResult> {
    const services = this.services;
    if (!services) throw new Error('reload before start');
    const plan = planReload(this.current, next);
    const grace = this.options.shutdownGraceMs ?? 30_000;

    for (const address of plan.stop.triggers) await this.stopTrigger(address);
    for (const address of plan.stop.connectors) await this.stopConnector(address);
    for (const address of plan.stop.scalers) await this.stopScaler(address, grace, plan.removed.includes(address));

    this.current = next;
    const byAddress = new Map(next.components.map((c) => [c.address, c]));
    for (const address of plan.start.scalers)
      await this.startScaler(byAddress.get(address) as GraphComponent, services);
    const connections = new Map(next.connections.map((x) => [x.connector, x]));
    for (const address of plan.start.connectors)
      await this.startConnector(byAddress.get(address) as GraphComponent, services, connections.get(address));
    const triggers: [GraphComponent, Trigger][] = [];
    for (const address of plan.start.triggers) {
      const c = byAddress.get(address) as GraphComponent;
      triggers.push([c, await this.createTrigger(c, services)]);
    }
    for (const address of plan.start.scalers) this.scalers.get(address)?.reconciler.start();
    for (const [c, trigger] of triggers) await this.startTrigger(c, trigger);

    const result: ReloadResult = {
      ok: true,
      added: plan.added,
      removed: plan.removed,
      restarted: plan.restarted,
      unchanged: plan.unchanged,
    };
    this.logger.info({ ...result }, 'config reloaded');
    this.bus.emit('waymond.reload', 'waymond', { ...result });
    return result;
  }

  /** The services one component sees: its own shutdown signal and its own route mount. */
  private serviceFor(address: Address, services: ContextServices): ContextServices {
    const own = new AbortController();
    setMaxListeners(0, own.signal);
    this.aborts.set(address, own);
    return {
      ...services,
      signal: AbortSignal.any([services.signal, own.signal]),
      http: { route: (method, path, handler) => this.mount(address, { method, path, handler }) },
    };
  }

  /**
   * The server looks `/hooks/*` routes up in this array per request, so a route a reload
   * mounts is served at once, and one of the same path replaces the old handler. Any other
   * path the server has never served waits for a restart.
   */
  private mount(owner: Address, route: MountedRoute): void {
    const same = this.routes.find((r) => r.method === route.method && r.path === route.path);
    if (same) {
      same.handler = route.handler;
      this.routeOwners.set(same, owner);
      return;
    }
    if (this.server && !route.path.startsWith('/hooks/'))
      this.logger.warn(
        { address: owner, route: `${route.method} ${route.path}` },
        'a route added by a reload is served after a restart only',
      );
    this.routes.push(route);
    this.routeOwners.set(route, owner);
  }

  private unmount(owner: Address): void {
    for (const [route, by] of this.routeOwners) {
      if (by !== owner) continue;
      route.handler = () => ({ status: 404, body: { error: `${owner} was removed from the config` } });
      this.routeOwners.delete(route);
    }
  }

  private subscribe(address: Address, off: () => void): void {
    const list = this.subscriptions.get(address) ?? [];
    list.push(off);
    this.subscriptions.set(address, list);
  }

  private unsubscribeAll(address: Address): void {
    for (const off of this.subscriptions.get(address) ?? []) off();
    this.subscriptions.delete(address);
  }

  private release(address: Address): void {
    this.aborts.get(address)?.abort(new Error(`${address} was reloaded`));
    this.aborts.delete(address);
  }

  private async stopTrigger(address: Address): Promise<void> {
    const trigger = this.triggers.get(address);
    this.unsubscribeAll(address);
    await Promise.resolve()
      .then(() => trigger?.stop())
      .catch((error) => this.logger.warn({ address, err: errorMessage(error) }, 'trigger stop failed'));
    this.unmount(address);
    this.release(address);
    this.triggers.delete(address);
    this.notStarted.delete(address);
    this.dormant.delete(address);
  }

  private async stopConnector(address: Address): Promise<void> {
    const connector = this.connectors.get(address);
    this.unsubscribeAll(address);
    await Promise.resolve()
      .then(() => connector?.stop?.())
      .catch((error) => this.logger.warn({ address, err: errorMessage(error) }, 'connector stop failed'));
    this.release(address);
    this.connectors.delete(address);
  }

  /** A replaced scaler's members keep running for its successor to adopt; a removed one's follow on_shutdown. */
  private async stopScaler(address: Address, grace: number, removed: boolean): Promise<void> {
    const running = this.scalers.get(address);
    this.unsubscribeAll(address);
    if (running) {
      await running.reconciler.stop(grace);
      try {
        if (removed && running.onShutdown === 'stop' && !this.options.dryRun) await running.inner.stopAll?.();
        await running.inner.close?.();
      } catch (error) {
        this.logger.warn({ address, err: errorMessage(error) }, 'scaler shutdown failed');
      }
    }
    this.unmount(address);
    this.release(address);
    this.scalers.delete(address);
  }

  private async createTrigger(c: GraphComponent, services: ContextServices): Promise<Trigger> {
    const hasInput = this.current.inputs.has(c.address);
    const ctx = createComponentContext('trigger', c.id, this.serviceFor(c.address, services), { hasInput });
    const trigger = (await this.create(c, ctx)) as Trigger;
    this.triggers.set(c.address, trigger);
    if (hasInput) {
      this.subscribe(
        c.address,
        this.bus.subscribe(`${c.address}.input`, c.address, (event) => {
          if (!trigger.fire) throw new Error(`${c.address} cannot be fired`);
          return trigger.fire(event);
        }),
      );
    }
    return trigger;
  }

  /** A trigger polls or subscribes only on the instance that owns it. */
  private async ownershipChanged(address: Address, owned: boolean): Promise<void> {
    const trigger = this.triggers.get(address);
    if (!trigger || this.stopping) return;
    const c = this.current.components.find((x) => x.address === address);
    if (owned && this.dormant.has(address) && c) await this.startTrigger(c, trigger);
    else if (!owned && !this.dormant.has(address)) {
      this.dormant.add(address);
      await Promise.resolve()
        .then(() => trigger.stop())
        .catch((error) => this.logger.warn({ address, err: errorMessage(error) }, 'trigger stop failed'));
    }
  }

  private async startTrigger(c: GraphComponent, trigger: Trigger): Promise<void> {
    this.notStarted.delete(c.address);
    this.dormant.delete(c.address);
    if (this.options.ownership && !this.options.ownership.owns(c.address)) {
      this.dormant.add(c.address);
      return;
    }
    try {
      await trigger.start();
    } catch (error) {
      // Never retried: /readyz names it until a reload starts it again.
      this.notStarted.set(c.address, `could not start: ${errorMessage(error)}`);
      this.bus.emit(`${c.address}.error`, c.address, { error: `could not start: ${errorMessage(error)}` });
    }
  }

  private create(c: GraphComponent, ctx: ComponentContext): unknown | Promise<unknown> {
    return this.options.create ? this.options.create(c, ctx) : c.definition.create(c.config, ctx);
  }

  private async startScaler(c: GraphComponent, services: ContextServices): Promise<void> {
    const ctx = createComponentContext('scaler', c.id, this.serviceFor(c.address, services), { hasInput: true });
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
      ...(this.options.ownership ? { ownership: this.options.ownership } : {}),
    });
    const running: RunningScaler = {
      ...runtime,
      component: c,
      onShutdown: settings.on_shutdown ?? 'keep',
      seen: { health: 'ok', restarts: 0 },
    };
    this.scalers.set(c.address, running);
    this.subscribe(
      c.address,
      this.bus.subscribe(`${c.address}.input`, c.address, (event) => runtime.reconciler.handleInput(event)),
    );
    if (scaler.status)
      this.subscribe(
        c.address,
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
    const ctx = createComponentContext('connector', c.id, this.serviceFor(c.address, services), { hasInput: false });
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
      this.subscribe(
        c.address,
        this.bus.subscribe(`${from}.output`, c.address, async (event) => forward(await connector.handle(event))),
      );
      if (connector.handleError) {
        const onError = connector.handleError.bind(connector);
        this.subscribe(
          c.address,
          this.bus.subscribe(`${from}.error`, c.address, async (event) => forward(await onError(event))),
        );
      }
    }
  }

  private observeEvent(event: WaymondEvent): void {
    // A scaler's `.result` (one per decision) is counted by waymond_decisions_total already;
    // a series per scaler here would only double /metrics at 10,000 scalers.
    if (!event.topic.endsWith('.result')) this.metrics.countEvent(event.topic);
    if (event.topic.endsWith('.error')) this.metrics.countComponentError(event.source);
    // Kept for /api/events: a megabyte-sized webhook must not be held 200 times.
    const data = capEventData(event.data);
    this.recent.push(data === event.data ? event : { ...event, data });
    if (this.recent.length > RECENT_EVENTS * 2) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
  }
}
