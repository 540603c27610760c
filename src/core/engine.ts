/**
 * The Engine turns a loaded config into running components: scalers (each behind its
 * Reconciler) first, then connectors, then triggers, wired over the bus:
 *
 *   trigger ─<t>.output─▶ connector ─<to>.input─▶ Reconciler(scaler) ─<s>.result─▶
 *
 * and serves the HTTP API. `stop()` is the graceful shutdown of SIGINT/SIGTERM.
 */
import { setMaxListeners } from 'node:events';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ComponentConfig, LoadedConfig } from '../config/load.js';
import { createHttpServer, type HttpServer } from '../server/http.js';
import { Metrics } from '../server/metrics.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { EventBus } from './bus.js';
import { type Clock, RealClock } from './clock.js';
import { type ContextServices, createComponentContext, errorMessage } from './context.js';
import { fromList } from './graph.js';
import { Reconciler, type ReconcilerSettings } from './reconciler.js';
import { type ScaleInSettings, withScaleIn } from './scale-in.js';
import type {
  Address,
  ComponentContext,
  Connector,
  EventData,
  RouteHandler,
  Scaler,
  ScalerHandle,
  Trigger,
  WaymondEvent,
} from './types.js';

export interface EngineOptions {
  logger: Logger;
  clock?: Clock;
  /** SQLite file; default `<config dir>/.waymond/state.db`. ":memory:" for tests. */
  statePath?: string;
  store?: Store;
  dryRun?: boolean;
  /** Override the config's [http] section; `false` runs without an HTTP server. */
  http?: { host: string; port: number } | false;
  /** How long in-flight reconciles may take at shutdown. */
  shutdownGraceMs?: number;
  processMetrics?: boolean;
  /**
   * Replaces a scaler's target (the simulator's simulated fleets): return a Scaler to use
   * instead of the configured one, or undefined to build it as configured.
   */
  scalerOverride?: (component: ComponentConfig, ctx: ComponentContext) => Scaler | undefined;
  /** Create triggers but never start them (the simulator feeds their outputs itself). */
  startTriggers?: boolean;
}

interface RunningScaler {
  component: ComponentConfig;
  scaler: Scaler;
  reconciler: Reconciler;
  onShutdown: 'keep' | 'stop';
}

export interface ComponentStatus {
  address: Address;
  kind: string;
  type: string;
  desired?: number;
  observed?: number;
  ready?: number;
  members?: unknown[];
  min?: number;
  max?: number;
}

const RECENT_EVENTS = 200;

export class Engine {
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly store: Store;
  /** Directory for files components own (member logs…): next to the state file. */
  readonly stateDir: string;
  private readonly abort = new AbortController();
  private scalers = new Map<Address, RunningScaler>();
  private connectors = new Map<Address, Connector>();
  private triggers = new Map<Address, Trigger>();
  private unsubscribe: (() => void)[] = [];
  private routes: { method: 'GET' | 'POST'; path: string; handler: RouteHandler }[] = [];
  private server?: HttpServer;
  private recent: WaymondEvent[] = [];
  private ready = false;
  private stopping?: Promise<void>;

  constructor(
    readonly config: LoadedConfig,
    private readonly options: EngineOptions,
  ) {
    this.clock = options.clock ?? new RealClock();
    // Every component and in-flight poll listens for shutdown on this one signal.
    setMaxListeners(0, this.abort.signal);
    const statePath = options.statePath ?? config.store.path ?? join(dirname(config.file), '.waymond', 'state.db');
    this.stateDir = statePath === ':memory:' ? join(dirname(config.file), '.waymond') : dirname(statePath);
    this.metrics = new Metrics({ processMetrics: options.processMetrics });
    this.bus = new EventBus(this.clock, options.logger);
    this.store =
      options.store ??
      new SqliteStore(statePath, {
        retention: config.store.retention,
      });
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

  recentEvents(limit = 50): WaymondEvent[] {
    return this.recent.slice(-limit);
  }

  scaler(address: Address): ScalerHandle | undefined {
    const running = this.scalers.get(address);
    return running ? this.handleFor(running) : undefined;
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
      configDir: dirname(this.config.file),
      dryRun: this.options.dryRun ?? false,
    };
    const components = this.config.components;
    const hasInput = new Set(
      components
        .filter((c) => c.kind === 'connector' && typeof c.config.to === 'string')
        .map((c) => c.config.to as string),
    );

    // Scalers first: connectors and cascades look them up when they are created.
    for (const c of components.filter((x) => x.kind === 'scaler')) await this.startScaler(c, services);
    for (const c of components.filter((x) => x.kind === 'connector')) await this.startConnector(c, services);
    const triggers: [ComponentConfig, Trigger][] = [];
    for (const c of components.filter((x) => x.kind === 'trigger')) {
      const ctx = createComponentContext('trigger', c.id, services, { hasInput: hasInput.has(c.address) });
      const trigger = (await c.definition.create(c.config, ctx)) as Trigger;
      this.triggers.set(c.address, trigger);
      if (hasInput.has(c.address)) {
        this.unsubscribe.push(
          this.bus.subscribe(`${c.address}.input`, c.address, (event) => {
            if (!trigger.fire) throw new Error(`${c.address} cannot be fired`);
            return trigger.fire(event);
          }),
        );
      }
      triggers.push([c, trigger]);
    }

    if (this.options.http !== false) {
      const listen = this.options.http ?? this.config.http;
      this.server = await createHttpServer(this, this.routes, listen);
    }
    for (const running of this.scalers.values()) running.reconciler.start();
    for (const [c, trigger] of this.options.startTriggers === false ? [] : triggers) {
      try {
        await trigger.start();
      } catch (error) {
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
        if (!this.config.components.some((c) => c.kind === 'connector' && c.config.to === address))
          await trigger.fire(event);
        return event;
      }
      return this.bus.emit(`${address}.output`, address, data);
    }
    if (this.scalers.has(address)) return this.bus.emit(`${address}.input`, 'api', data);
    throw new Error(`no trigger or scaler at ${address}`);
  }

  listComponents(): ComponentStatus[] {
    return this.config.components.map((c) => {
      const base: ComponentStatus = { address: c.address, kind: c.kind, type: c.type };
      const running = this.scalers.get(c.address);
      if (!running) return base;
      const observed = running.reconciler.lastObserved();
      return {
        ...base,
        min: running.reconciler.settings.min,
        max: running.reconciler.settings.max,
        desired: running.reconciler.lastDesired(),
        observed: observed?.count,
        ready: observed?.ready ?? observed?.count,
        members: observed?.members,
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
        if (running.onShutdown === 'stop' && !this.options.dryRun) await running.scaler.stopAll?.();
        await running.scaler.close?.();
      } catch (error) {
        this.logger.warn({ address, err: errorMessage(error) }, 'scaler shutdown failed');
      }
    }
    await this.server?.close();
    this.store.close();
    this.logger.info('waymond stopped');
  }

  private async startScaler(c: ComponentConfig, services: ContextServices): Promise<void> {
    const ctx = createComponentContext('scaler', c.id, services, { hasInput: true });
    const scaler = this.options.scalerOverride?.(c, ctx) ?? ((await c.definition.create(c.config, ctx)) as Scaler);
    const settings = c.config as unknown as ReconcilerSettings & ScaleInSettings & { on_shutdown: 'keep' | 'stop' };
    // Busy checks and drains pick the members to remove (see scale-in.ts).
    const scaleIn = withScaleIn(scaler, settings, { address: c.address, clock: this.clock, logger: ctx.logger });
    const reconciler = new Reconciler({
      address: c.address,
      scaler: scaleIn.scaler,
      settings,
      chooseRemovals: scaleIn.chooseRemovals,
      clock: this.clock,
      bus: this.bus,
      store: this.store,
      logger: ctx.logger,
      dryRun: services.dryRun,
      metrics: this.metrics,
    });
    this.scalers.set(c.address, { component: c, scaler, reconciler, onShutdown: settings.on_shutdown ?? 'keep' });
    this.unsubscribe.push(
      this.bus.subscribe(`${c.address}.input`, c.address, (event) => reconciler.handleInput(event)),
    );
  }

  private async startConnector(c: ComponentConfig, services: ContextServices): Promise<void> {
    const ctx = createComponentContext('connector', c.id, services, { hasInput: false });
    const connector = (await c.definition.create(c.config, ctx)) as Connector;
    this.connectors.set(c.address, connector);
    const to = typeof c.config.to === 'string' ? c.config.to : undefined;
    const forward = (outputs: EventData[]) => {
      for (const data of outputs) {
        this.bus.emit(`${c.address}.output`, c.address, data);
        if (to) this.bus.emit(`${to}.input`, c.address, data);
      }
    };
    for (const from of fromList(c.config)) {
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

  private handleFor(running: RunningScaler): ScalerHandle {
    const r = running.reconciler;
    return {
      address: r.address,
      min: r.settings.min,
      max: r.settings.max,
      lastObserved: () => r.lastObserved(),
      lastDesired: () => r.lastDesired(),
      request: (desired, data, sourceEventId) =>
        r.request(desired, data, sourceEventId ?? null, (data.reason as string) ?? 'requested'),
      reconcileNow: (desired, data, sourceEventId) =>
        r.reconcileNow(desired, data, sourceEventId ?? null, (data.reason as string) ?? 'requested'),
    };
  }

  private observeEvent(event: WaymondEvent): void {
    this.metrics.events.inc({ topic: event.topic });
    if (event.topic.endsWith('.error')) this.metrics.componentErrors.inc({ address: event.source });
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS * 2) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
  }
}
