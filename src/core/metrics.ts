/**
 * What the core reports to a metrics system. The daemon implements it with Prometheus
 * (src/server/metrics.ts); the core knows nothing of prom-client. Per-target numbers carry
 * the target key ('' for a scaler with one target), so the lanes of a scaler that serves
 * several targets (one Auto Scaling group per queue) never overwrite each other.
 *
 * The reconciler reports changes only: a gauge when its value moved, a reconcile when it was
 * more than a resync that found nothing to do (that one reports nothing at all). Updates
 * still come thousands of times a second on a busy daemon, so an implementation keeps them
 * cheap (plain numbers, rendered when scraped).
 */
export interface MetricsSink {
  /** The count last observed on one target of a scaler. */
  setCurrent(scaler: string, target: string, count: number): void;
  /** The desired count the reconciler last set for one target (after min/max). */
  setDesired(scaler: string, target: string, desired: number): void;
  /** One reconcile of a target ended with `outcome` (ok, error, dry_run, rejected). */
  countReconcile(scaler: string, target: string, outcome: string): void;
  /** How long one reported reconcile took (the daemon keeps one histogram over every scaler). */
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
