/**
 * Crash-loop backoff of the process scaler, per slot.
 *
 * A member that exits on its own within `min_uptime` of starting puts its slot in backoff
 * (1 s, doubling to 5 min); apply does not restart that slot before the backoff ends. The
 * backoff is per slot, not per scaler: a slot that crashes must not hold back healthy ones
 * (a port clash, a corrupt per-slot work dir), and when every member fails alike (a bad
 * agent token) every slot backs off alike anyway. A slot in backoff stays reserved:
 * starting the next free slot instead would make a fresh slot, with a fresh 1 s backoff,
 * each time, which is the hot loop again. A member that stays up past `min_uptime` clears
 * its slot's backoff.
 *
 * A slot that is no longer wanted (the desired count dropped below it) is forgotten, so
 * the scaler does not stay `crash_looping` for a slot nobody will start again. Each
 * reconcile is one round (housekeep, then apply when the count is off). A slot that is
 * wanted but has no live member makes the count short, so that round's apply always
 * tries it (`tryStart`, or `keepOnly` with the slots it would fill). So:
 * - an apply forgets every backing-off slot it neither holds a member on nor would fill;
 * - a scale-down that needs no apply (the live members already match the lower count)
 *   leaves the slot untried: the next round (at the latest the next resync) forgets it.
 * A reconcile that fails before its apply (in the process scaler only a store or /proc
 * fault) may forget a wanted slot's backoff too; its next crash then starts again at 1 s.
 */

/** A slot whose members keep exiting within min_uptime. */
export interface SlotBackoff {
  /** Consecutive early exits. */
  crashes: number;
  lastExitCode: number | null;
  /** Clock time before which the slot is not restarted. */
  nextStartAt: number;
  /** The round in which the last early exit was seen. */
  seenRound: number;
  /** The last round whose apply wanted this slot. */
  triedRound?: number;
}

export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 300_000;

/** The wait after the n-th consecutive early exit (n >= 1): 1 s doubling, capped at 5 min. */
export function crashBackoff(crashes: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.max(0, crashes - 1));
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** A wait still to come, in whole seconds rounded up (never "0s" while it is not over). */
function secondsLeft(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`;
}

export interface CrashLoopStatus {
  health: 'ok' | 'crash_looping';
  reason?: string;
  lastExitCode?: number | null;
  restarts: number;
}

export class CrashLoops {
  private readonly backoff = new Map<number, SlotBackoff>();
  /** Slots whose last member exited on its own: the next start there is a restart. */
  private readonly exitedSlots = new Set<number>();
  /** Members restarted after exiting on their own, since start (waymond_member_restarts_total). */
  private restarts = 0;
  private round = 0;

  constructor(private readonly minUptimeMs: number) {}

  /**
   * A reconcile begins (housekeep): forgets the backing-off slots without a live member
   * (`held`) that the previous round's apply did not want (see the header). Returns them.
   */
  beginRound(held: ReadonlySet<number>): number[] {
    const previous = this.round;
    this.round++;
    const forgotten: number[] = [];
    for (const [slot, b] of this.backoff) {
      if (held.has(slot) || b.seenRound > previous || (b.triedRound ?? -1) >= previous) continue;
      this.forget(slot);
      forgotten.push(slot);
    }
    return forgotten;
  }

  /** A member exited on its own; returns the backoff it put its slot in, if it was early. */
  exited(slot: number, startedAt: number, now: number, code: number | null): SlotBackoff | undefined {
    this.exitedSlots.add(slot);
    if (now - startedAt < this.minUptimeMs) {
      const crashes = (this.backoff.get(slot)?.crashes ?? 0) + 1;
      const b: SlotBackoff = {
        crashes,
        lastExitCode: code,
        nextStartAt: now + crashBackoff(crashes),
        seenRound: this.round,
        triedRound: this.backoff.get(slot)?.triedRound,
      };
      this.backoff.set(slot, b);
      return b;
    }
    this.backoff.delete(slot);
    return undefined;
  }

  /** A member stayed up past min_uptime: its slot's backoff is over. Returns whether there was one. */
  stayedUp(slot: number): boolean {
    return this.backoff.delete(slot);
  }

  /**
   * apply wants to start `slot`: undefined when it may (counting a restart when the slot's
   * last member exited on its own), else the note saying why not yet.
   */
  tryStart(slot: number, now: number): string | undefined {
    const b = this.backoff.get(slot);
    if (b) {
      b.triedRound = this.round;
      if (now < b.nextStartAt)
        return `crash looping: ${this.text(slot, b)}; next start in ${secondsLeft(b.nextStartAt - now)}`;
    }
    if (this.exitedSlots.delete(slot)) this.restarts++;
    return undefined;
  }

  /** After an apply: forgets backing-off slots it neither holds nor wanted. Returns them. */
  keepOnly(wanted: ReadonlySet<number>): number[] {
    const forgotten: number[] = [];
    for (const [slot, b] of this.backoff) {
      if (wanted.has(slot)) {
        b.triedRound = this.round;
        continue;
      }
      this.forget(slot);
      forgotten.push(slot);
    }
    return forgotten;
  }

  private forget(slot: number): void {
    this.backoff.delete(slot);
    this.exitedSlots.delete(slot);
  }

  /** crash_looping while any slot is backing off, with the worst one's exit code. */
  status(): CrashLoopStatus {
    const looping = [...this.backoff.entries()].sort((a, b) => b[1].crashes - a[1].crashes);
    const worst = looping[0];
    if (!worst) return { health: 'ok', restarts: this.restarts };
    const [slot, b] = worst;
    const others = looping.length > 1 ? ` (${looping.length} slots backing off)` : '';
    return {
      health: 'crash_looping',
      reason: `${this.text(slot, b)}${others}`,
      lastExitCode: b.lastExitCode,
      restarts: this.restarts,
    };
  }

  private text(slot: number, b: SlotBackoff): string {
    const how = b.lastExitCode === null ? 'exited (killed or code unknown)' : `exited with code ${b.lastExitCode}`;
    return `slot ${slot} ${how} within ${seconds(this.minUptimeMs)}, ${b.crashes} time${b.crashes === 1 ? '' : 's'}`;
  }
}
