/**
 * The shared behaviour of every polling trigger (redis, rabbitmq, postgres, prometheus,
 * buildkite…): poll on its own `interval` (default 15s), or once per input event when
 * something is connected to its input; never two polls at once; a failure is an error
 * event, never a made-up zero (a zero would scale a fleet away during an outage).
 *
 * Triggers of one interval share the clock's tick for that interval (`Clock.every`: one
 * timer, not one per trigger): 20,000 sources at 1 s are one timer firing 20,000 polls,
 * whose commands a shared connection sends in one write. A trigger polls once when it
 * starts, then on the tick of its interval, so its second poll may come sooner than
 * `interval` after the first.
 * A poll is bounded by its own timeout and aborted by `stop()`: no poll adds a listener to
 * the daemon-wide shutdown signal (thousands of them cost 13 % of a core at 8,000 sources).
 */
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { isPermanent } from '../core/errors.js';
import type { ComponentContext, EventData, Trigger, WaymondEvent } from '../core/types.js';

export const pollingFields = {
  interval: duration("How often to poll when nothing is connected to this trigger's input.").default(15_000),
  timeout: duration('Give up on one poll after this long (reported as an error event).').default(10_000),
};

export interface PollingConfig {
  interval: number;
  timeout: number;
}

export interface PollControl {
  /** The poll was triggered by this input event (when fired through a connector). */
  input?: WaymondEvent;
  /** Aborted when the poll times out or the trigger stops (made on first use). */
  signal: AbortSignal;
  /** Ask not to be polled again before `ms` from now (e.g. a server's poll-interval hint). */
  deferNextPoll(ms: number): void;
}

export interface PollerHooks {
  /** One poll: returns one event's data or several (one per queue…). Throws on failure. */
  poll(control: PollControl): Promise<EventData | EventData[]>;
  /** Closes pooled connections at stop. */
  close?(): Promise<void> | void;
  /** Set false for triggers whose events carry no `value` (e.g. per-queue breakdowns validated elsewhere). */
  requireValue?: boolean;
}

/**
 * After a permanent error (401/403, not found, validation) a source is asked again no more
 * often than this (the default resync_interval), whatever its interval or input rate.
 */
export const PERMANENT_RETRY_MS = 30_000;

/** Largest value accepted as a metric; anything above is treated as a broken source. */
export const MAX_METRIC_VALUE = 1e12;

/** Returns an error message when `value` is not a usable metric, else undefined. */
export function checkMetricValue(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return `expected a finite number as value, found ${value === undefined ? 'nothing' : JSON.stringify(value)}`;
  }
  if (value < 0) return `expected a value >= 0, found ${value}`;
  if (value > MAX_METRIC_VALUE) return `value ${value} is implausibly large (over ${MAX_METRIC_VALUE})`;
  return undefined;
}

/**
 * One poll in flight, and the control its hook gets. No promise race, no AbortController
 * unless a hook asks for the signal (fetch does; a Redis LLEN does not): at 20,000 polls a
 * second every object per poll shows up as garbage-collector time.
 */
class Poll implements PollControl {
  private controller: AbortController | undefined;
  /** Why it was cut short (timeout or stop), once it was. */
  reason: Error | undefined;
  settled = false;
  timer: TimerHandle | undefined;
  readonly done: Promise<void>;
  finish!: () => void;

  constructor(
    readonly input: WaymondEvent | undefined,
    readonly deferNextPoll: (ms: number) => void,
  ) {
    this.done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

export function createPoller(ctx: ComponentContext, config: PollingConfig, hooks: PollerHooks): Trigger {
  let tick: TimerHandle | undefined;
  let inFlight: Promise<void> | undefined;
  let current: Poll | undefined;
  let notBefore = 0;
  let stopped = false;
  /** Why the last poll failed permanently; /readyz reports it until a poll succeeds. */
  let permanentFailure: string | undefined;
  const deferNextPoll = (ms: number) => {
    notBefore = ctx.clock.now() + ms;
  };

  const emitChecked = (data: EventData) => {
    const problem = hooks.requireValue === false ? undefined : checkMetricValue(data.value);
    if (problem) ctx.emitError(new Error(problem), { source_data: data });
    else ctx.emit(data);
  };

  const failedWith = (error: unknown) => {
    const failure = new Error(`poll failed: ${errorMessage(error)}`, { cause: error });
    // A transient failure after a permanent one (a 503 after the 403) is no longer "never works".
    permanentFailure = isPermanent(error) ? failure.message : undefined;
    if (permanentFailure)
      notBefore = Math.max(notBefore, ctx.clock.now() + Math.max(config.interval, PERMANENT_RETRY_MS));
    ctx.emitError(failure);
  };

  /** Ends a poll once: its events (or its error), then the next poll may start. */
  const settle = (poll: Poll, failed: boolean, outcome: unknown): void => {
    if (poll.settled) return;
    poll.settled = true;
    poll.timer?.cancel();
    try {
      if (failed) {
        // A poll cut short by stop() is not a failure of the source.
        if (!(stopped && poll.reason)) failedWith(outcome);
      } else {
        if (permanentFailure) ctx.logger.info('source recovered: no longer failing');
        permanentFailure = undefined;
        if (Array.isArray(outcome)) for (const data of outcome) emitChecked(data);
        else emitChecked(outcome as EventData);
      }
    } finally {
      if (current === poll) {
        current = undefined;
        inFlight = undefined;
      }
      poll.finish();
    }
  };

  const cut = (reason: Error) => {
    const poll = current;
    if (!poll || poll.settled) return;
    poll.abort(reason);
    settle(poll, true, reason);
  };
  const timedOut = () => cut(new Error(`poll timed out after ${config.timeout} ms`));

  const runOnce = (input?: WaymondEvent): Promise<void> | undefined => {
    if (stopped) return;
    if (inFlight) return inFlight; // single-flight: a poll already running answers this request too
    if (ctx.clock.now() < notBefore) return;
    const poll = new Poll(input, deferNextPoll);
    current = poll;
    inFlight = poll.done;
    poll.timer = ctx.clock.setTimeout(timedOut, config.timeout);
    let answer: Promise<EventData | EventData[]>;
    try {
      answer = hooks.poll(poll);
    } catch (error) {
      // A hook that throws before its first await.
      settle(poll, true, error);
      return poll.done;
    }
    answer.then(
      (result) => settle(poll, false, result),
      (error) => settle(poll, true, error),
    );
    return poll.done;
  };
  const onTick = () => {
    void runOnce();
  };

  return {
    start() {
      stopped = false;
      if (ctx.hasInput || tick) return;
      tick = ctx.clock.every(config.interval, onTick);
      onTick();
    },
    async stop() {
      stopped = true;
      tick?.cancel();
      tick = undefined;
      cut(new Error('the trigger is stopping'));
      await inFlight;
      await hooks.close?.();
    },
    async fire(input) {
      await runOnce(input);
    },
    problem() {
      return permanentFailure;
    },
  };
}

export const secretFromEnv = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
  .describe('Name of the environment variable holding the secret (the secret itself never goes in the config).');

/**
 * A poller that needs a token from the environment. A missing token is reported once at
 * start (not once per poll forever) and again whenever the trigger is fired; nothing is
 * polled without it, and nothing is made up.
 */
export function requireEnvToken(
  poller: Trigger,
  ctx: ComponentContext,
  tokenEnv: string,
  missingToken: () => Error,
): Required<Pick<Trigger, 'start' | 'stop' | 'fire' | 'problem'>> {
  let tokenMissing = false;
  return {
    start() {
      tokenMissing = !process.env[tokenEnv];
      if (tokenMissing) {
        ctx.emitError(missingToken());
        return;
      }
      return poller.start();
    },
    stop() {
      return poller.stop();
    },
    fire(input) {
      if (tokenMissing) {
        ctx.emitError(missingToken());
        return;
      }
      return poller.fire?.(input);
    },
    problem() {
      return poller.problem?.();
    },
  };
}
