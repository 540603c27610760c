/**
 * A target for reconciler tests: it holds a count, lets a test hold applies open (to see
 * that a second one never starts meanwhile), fail on demand, and records every apply.
 * It stands for an external system (a cloud API), not for any module of ours.
 */
import type { Observation, Plan, Scaler } from '../../src/core/types.js';

export class GatedTarget implements Scaler {
  count = 0;
  applies: Plan[] = [];
  concurrent = 0;
  maxConcurrent = 0;
  failNext = 0;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
  }

  async observe(): Promise<Observation> {
    return { count: this.count };
  }

  async apply(plan: Plan): Promise<void> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      if (this.gate) await this.gate;
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('target API answered 503');
      }
      this.applies.push(plan);
      this.count = plan.desired;
    } finally {
      this.concurrent--;
    }
  }
}
