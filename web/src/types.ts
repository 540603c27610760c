// What the daemon's JSON API answers, as the dashboard reads it.

export interface WaymondEvent {
  id: string;
  topic: string;
  source: string;
  time: number;
  data: Record<string, unknown>;
}

export interface Target {
  id?: string;
  name?: string;
  desired?: number;
  observed?: number;
  ready?: number;
  [key: string]: unknown;
}

export interface Component {
  address: string;
  kind: string;
  type: string;
  min?: number;
  max?: number;
  desired?: number;
  observed?: number;
  ready?: number;
  members?: unknown[];
  targets?: Target[];
  /** The scaler's own health ('ok', 'crash_looping'), from Scaler.status. */
  health?: string;
  reason?: string;
  lastExitCode?: number | null;
}

export type HealthState = 'ok' | 'failing' | 'dry_run' | 'idle' | 'crash_looping';
export interface Health {
  state: HealthState;
  reason?: string;
  since?: number;
}

export interface GraphNode {
  address: string;
  kind: string;
  type: string;
  health: Health;
}

export interface Graph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

// The daemon's own type, so the page cannot drift from what /api/decisions answers (type-only:
// nothing of the daemon is bundled into the page).
export type { Decision } from '../../src/core/store.js';

export interface Point {
  time: number;
  value: number;
  source?: string;
}

export interface Series {
  scaler: string;
  since: number;
  decisions: { time: number; observed: number | null; desired: number | null; outcome: string }[];
  requested: Point[];
  signals: Record<string, Point[]>;
}
