/**
 * What the core reports to a metrics system. The daemon implements it with Prometheus
 * (src/server/metrics.ts); the core knows nothing of prom-client. Per-target numbers carry
 * the target key ('' for a scaler with one target), so the lanes of a scaler that serves
 * several targets (one Auto Scaling group per queue) never overwrite each other.
 */
export interface MetricsSink {
  /** The count last observed on one target of a scaler. */
  setCurrent(scaler: string, target: string, count: number): void;
  /** The desired count the reconciler last set for one target (after min/max). */
  setDesired(scaler: string, target: string, desired: number): void;
  /** One reconcile of a target ended with `outcome` (ok, error, dry_run, rejected). */
  countReconcile(scaler: string, target: string, outcome: string): void;
  reconcileSeconds(scaler: string, seconds: number): void;
  /** An event was published on `topic`. */
  countEvent(topic: string): void;
  /** A component reported an error (an error event, a failing handler). */
  countComponentError(address: string): void;
  /** `count` more members of a scaler were restarted after exiting on their own. */
  countMemberRestarts?(scaler: string, count: number): void;
}

/** For a runtime without metrics (the simulator, unit tests). */
export const noMetrics: MetricsSink = {
  setCurrent: () => undefined,
  setDesired: () => undefined,
  countReconcile: () => undefined,
  reconcileSeconds: () => undefined,
  countEvent: () => undefined,
  countComponentError: () => undefined,
  countMemberRestarts: () => undefined,
};
