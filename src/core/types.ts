/**
 * The contracts every component lives by. A component type is one `ComponentDefinition`
 * (kind, type name, summary, zod schema, example, create); the schema is the single source
 * of validation, error messages, JSON Schema and the generated reference docs.
 *
 * Lifecycles:
 * - Trigger: `start()` begins emitting (timers, subscriptions, listeners); `stop()` ends it.
 *   `fire(input)` is called when something is connected to its input (ctx.hasInput) and an
 *   event arrives there; such a trigger does not run its own schedule.
 * - Connector: `handle(event)` turns one event into zero or more output data objects.
 *   `handleError(event)` (optional) sees error events of its sources (a policy holds on them).
 * - Scaler: `observe()` says what exists now; `apply(plan)` changes the target toward
 *   `plan.desired`, adding `plan.add` members and removing exactly `plan.remove` (picked by
 *   the engine) when the scaler has members. The engine's Reconciler makes sure only one
 *   observe → plan → apply runs at a time per scaler.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from './clock.js';

export type ComponentKind = 'trigger' | 'connector' | 'scaler';

/** `trigger.<id>`, `connector.<id>` or `scaler.<id>`. */
export type Address = string;

export type EventData = Record<string, unknown>;

export interface WaymondEvent {
  id: string;
  topic: string;
  /** Address of the component that emitted it. */
  source: Address;
  /** Milliseconds since the epoch (clock time). */
  time: number;
  data: EventData;
}

export type EventHandler = (event: WaymondEvent) => void | Promise<void>;

export interface Bus {
  /** Publishes `data` on `topic`; returns the event. Never throws because of a subscriber. */
  emit(topic: string, source: Address, data: EventData): WaymondEvent;
  /** Subscribes `subscriber` (an address, used to report its errors) to `topic`. */
  subscribe(topic: string, subscriber: Address, handler: EventHandler): () => void;
  /** Sees every event (tap, store, metrics). */
  subscribeAll(handler: (event: WaymondEvent) => void): () => void;
}

/** Per-component persistent key/value state (survives a restart of waymond). */
export interface ComponentState {
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): void;
}

export type RouteHandler = (request: HookRequest) => Promise<HookResponse> | HookResponse;

export interface HookRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body, exactly as received (for HMAC checks). */
  body: Buffer;
  query: Record<string, string>;
}

export interface HookResponse {
  status: number;
  body?: unknown;
}

export interface HttpMount {
  /** Mounts `method path` on the daemon's HTTP server (e.g. POST /hooks/<id>). */
  route(method: 'GET' | 'POST', path: string, handler: RouteHandler): void;
}

export interface ComponentContext {
  id: string;
  kind: ComponentKind;
  address: Address;
  logger: Logger;
  clock: Clock;
  bus: Bus;
  state: ComponentState;
  /** Aborted when the daemon shuts down. */
  signal: AbortSignal;
  http: HttpMount;
  /** Directory for files this component owns (member logs…). */
  dataDir: string;
  /** Directory of the config file: relative paths in a config are relative to it. */
  configDir: string;
  /** True when a connector delivers events to this component's input. */
  hasInput: boolean;
  /** Decide and record, but change no target. */
  dryRun: boolean;
  /** Publishes on `<address>.output`. */
  emit(data: EventData): WaymondEvent;
  /** Publishes an error on `<address>.error` (and logs it). */
  emitError(error: unknown, data?: EventData): WaymondEvent;
  /** Looks up a running scaler by address (for policy and cascade). */
  scalers: ScalerDirectory;
}

export interface Trigger {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  fire?(input: WaymondEvent): void | Promise<void>;
  /** Why it started but can never work (a credential variable unset), for /readyz; undefined when fine. */
  problem?(): string | undefined;
}

export interface Connector {
  handle(event: WaymondEvent): EventData[] | Promise<EventData[]>;
  handleError?(event: WaymondEvent): EventData[] | Promise<EventData[]>;
  stop?(): void | Promise<void>;
}

export type MemberState = 'starting' | 'running' | 'stopping' | 'exited' | 'unknown';

export interface Member {
  /** Stable id within the scaler (container id, "slot-3", instance id…). */
  id: string;
  state: MemberState;
  /** Milliseconds since the epoch; newest members are removed first. */
  startedAt?: number;
  /** False while starting: still counts toward current, so work is not provisioned twice. */
  ready?: boolean;
  /** Anything a person may want to see (pid, host, image…). */
  info?: Record<string, unknown>;
}

export interface Observation {
  /** Members that count toward capacity now (starting ones included). */
  count: number;
  /** Of `count`, how many are ready. Defaults to `count`. */
  ready?: number;
  /** Present when the scaler manages individual members. */
  members?: Member[];
}

export interface MemberCommandResult {
  exitCode: number | null;
  /** stdout and stderr, trimmed to a tail. */
  output: string;
}

export interface Plan {
  desired: number;
  observed: Observation;
  /** How many members to start (0 when shrinking). */
  add: number;
  /** The members to remove, chosen by the engine (newest first). */
  remove: Member[];
  /** The event data that asked for this count (asg_name, tags…). */
  data: EventData;
  reason: string;
  /**
   * In a cluster: the token of the lease this apply was fenced with (it only grows), so a
   * target can refuse an apply carrying an older one. Absent outside a cluster.
   */
  fence?: string;
}

export interface ApplyNote {
  note?: string;
}

export interface Scaler {
  /**
   * Tidies the target before it is observed (removes exited containers, cleans finished
   * Jobs, resets failed units). The reconciler calls it only when not in dry run, so that
   * `observe` can stay pure: a dry run changes nothing at all.
   */
  housekeep?(data: EventData): Promise<void>;
  /**
   * What exists now, changing nothing. `data` is the latest input for this target (a
   * scaler that serves several targets, like an ASG named by `asg_name`, reads which one
   * from it).
   */
  observe(data: EventData): Promise<Observation>;
  /**
   * Changes the target. May return a note (e.g. "moved to the group's MaxSize 5") that the
   * reconciler appends to the decision's reason, so what the target did is explained too.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most scalers have nothing to note and return nothing
  apply(plan: Plan): Promise<void | ApplyNote>;
  /**
   * For --dry-run: the exact calls `apply(plan)` would make (e.g. "SetDesiredCapacity
   * AutoScalingGroupName=ci DesiredCapacity=5"), logged and stored instead of made.
   */
  describeApply?(plan: Plan): string[];
  /** Called at shutdown when `on_shutdown = "stop"`: stop every member. */
  stopAll?(): Promise<void>;
  /**
   * Runs a shell command where `member` lives (its host, its container, with its env), for
   * `busy_check` and `drain`. Resolves with the exit code (null when killed) even when it is
   * not 0; rejects only when the command could not be run at all.
   */
  runInMember?(member: Member, command: string, timeoutMs: number): Promise<MemberCommandResult>;
  close?(): void | Promise<void>;
  /**
   * How the scaler's members fare, beyond counts: `crash_looping` when members keep
   * exiting soon after they start (with the last exit code). Read after each reconcile and
   * by /api/components; a change of `health` is logged once. `restarts` counts members
   * restarted after exiting on their own since start (waymond_member_restarts_total).
   */
  status?(): ScalerStatus;
  /**
   * For scalers serving several targets from one config (one ASG per Buildkite queue):
   * the target an input is for. Each target gets its own latest-wins lane; default: one.
   */
  targetKey?(data: EventData): string;
}

export interface ScalerStatus {
  health: 'ok' | 'crash_looping';
  reason?: string;
  lastExitCode?: number | null;
  restarts?: number;
}

/** One target of a scaler as its reconciler last saw it (a lane: see reconciler.ts). */
export interface TargetStatus {
  /** The target's key (`Scaler.targetKey`); '' for a scaler with one target. */
  target: string;
  desired?: number;
  observed?: Observation;
}

export interface ScalerHandle {
  address: Address;
  /** The target an input with this data is for: `targetKey(data)`, '' for a single-target scaler. */
  targetOf(data: EventData): string;
  /** Every target the scaler has been asked for or has saved, sorted by key. */
  targets(): TargetStatus[];
  /**
   * The last observation of `target`; without one, the sum over every observed target (the
   * one number for a scaler with several), undefined until any was observed.
   */
  lastObserved(target?: string): Observation | undefined;
  /** The last desired count of `target`; without one, the sum over every target. */
  lastDesired(target?: string): number | undefined;
  min: number;
  max: number;
  /** Asks the scaler's reconciler for a desired count (latest wins, per target). */
  request(desired: number, data: EventData, sourceEventId?: string): void;
  /** Runs one reconcile now and waits for it (used by cascade). */
  reconcileNow(desired: number, data: EventData, sourceEventId?: string): Promise<ReconcileResult>;
}

export interface ScalerDirectory {
  get(address: Address): ScalerHandle | undefined;
}

export interface ReconcileResult {
  scaler: Address;
  /** The target this run was for ('' for a scaler with one target). */
  target: string;
  /** `not_owner`: in a cluster, another instance holds the lease; nothing was done or recorded. */
  outcome: 'ok' | 'error' | 'dry_run' | 'rejected' | 'not_owner';
  observed: number | null;
  desired: number | null;
  action: string;
  reason: string;
  error?: string;
  durationMs: number;
}

export interface ComponentDefinition<S extends z.ZodType = z.ZodType, I = unknown> {
  kind: ComponentKind;
  type: string;
  /** One line, shown in the reference and `waymond validate`. */
  summary: string;
  /** Full config schema of this type, including the kind's common fields. */
  schema: S;
  /** A TOML snippet that validates; a test parses every example. */
  example: string;
  /** Triggers: whether it can be driven through its input (fire). */
  acceptsInput?: boolean;
  /** Addresses this component drives besides `to` (cascade tiers), for graph checks. */
  drives?(config: z.output<S>): Address[];
  create(config: z.output<S>, ctx: ComponentContext): I | Promise<I>;
}

export type TriggerDefinition<S extends z.ZodType = z.ZodType> = ComponentDefinition<S, Trigger> & {
  kind: 'trigger';
};
export type ConnectorDefinition<S extends z.ZodType = z.ZodType> = ComponentDefinition<S, Connector> & {
  kind: 'connector';
};
/**
 * What a scaler type can do. Its schema offers exactly the options that need each
 * (scalerSchema in schema.ts): an option it cannot honour is a load error that says why.
 */
export interface ScalerCapabilities {
  /** It manages individual members: busy_check, drain, drain_timeout and force_after choose among them. */
  members: boolean;
  /** It can run a shell command in a member (runInMember): busy_check and drain may be commands, not only URLs. */
  runInMember: boolean;
  /** It can stop all its members (stopAll): `on_shutdown = "stop"`. */
  stopAll: boolean;
}

export type ScalerDefinition<S extends z.ZodType = z.ZodType> = ComponentDefinition<S, Scaler> & {
  kind: 'scaler';
  /** What it can do; a type with modes declares the most any mode can (each mode's schema says its own). */
  capabilities: ScalerCapabilities;
};
