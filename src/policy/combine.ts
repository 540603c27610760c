/**
 * Combines several named sources into one metric: the highest (`max`, default: the
 * safest, as the HPA takes the largest proposal over its metrics), the lowest, the sum, the
 * average, or a JSONata `formula` over the sources by name (`queue + running * 0.5`).
 *
 * A source drops out when it failed, carries no finite number, or is older than
 * `stale_after`; when none is left the result is null (hold) and the reason lists why each
 * dropped out. With `formula`, the expression sees only the usable sources, so it can
 * choose what a missing one means (`$exists(queue) ? queue : 0`).
 */
import jsonata from 'jsonata';
import { z } from 'zod';
import { formatDuration } from '../core/duration.js';
import { optionalDuration } from './config.js';
import { formatNumber as fmt } from './strategies.js';

export const COMBINE_MODES = ['max', 'min', 'sum', 'avg', 'formula'] as const;
export type CombineMode = (typeof COMBINE_MODES)[number];

export interface SourceReading {
  /** The reading; null or absent when the source gave none. */
  value?: number | null | undefined;
  /** When it was read, in milliseconds since the epoch. */
  time: number;
  /** Present when the source failed. */
  error?: string | undefined;
}

export interface CombineOptions {
  mode: CombineMode;
  /** JSONata, for mode `formula`. */
  formula?: string | undefined;
  /** Milliseconds; absent: readings never go stale. */
  stale_after?: number | undefined;
}

export interface Combined {
  /** null: nothing usable, hold. */
  value: number | null;
  reason: string;
  /** Names of the sources that took part. */
  used: string[];
}

/** Returns why `formula` does not compile, or undefined when it does. */
export function formulaProblem(formula: string): string | undefined {
  try {
    compile(formula);
    return undefined;
  } catch (error) {
    return `invalid JSONata formula: ${(error as Error).message}`;
  }
}

export const combineSchemaShape = {
  mode: z.enum(COMBINE_MODES).default('max').describe('How sources combine: max (default), min, sum, avg, or formula.'),
  formula: z
    .string()
    .superRefine((formula, ctx) => {
      const problem = formulaProblem(formula);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe('mode formula: a JSONata expression over the sources by name, e.g. "queue + running".'),
  stale_after: optionalDuration('A source older than this drops out of the combination.'),
};

const compiled = new Map<string, jsonata.Expression>();

function compile(formula: string): jsonata.Expression {
  let expression = compiled.get(formula);
  if (!expression) {
    expression = jsonata(formula);
    compiled.set(formula, expression);
  }
  return expression;
}

/** Combines `inputs` as read at `now`. Async only because JSONata evaluates asynchronously. */
export async function combineInputs(
  inputs: Readonly<Record<string, SourceReading>>,
  options: CombineOptions,
  now: number,
): Promise<Combined> {
  const usable: Record<string, number> = {};
  const dropped: string[] = [];
  for (const [name, reading] of Object.entries(inputs)) {
    const age = now - reading.time;
    if (reading.error !== undefined) dropped.push(`${name} failing: ${reading.error}`);
    else if (typeof reading.value !== 'number' || !Number.isFinite(reading.value))
      dropped.push(`${name} has no number`);
    else if (options.stale_after !== undefined && age > options.stale_after) {
      dropped.push(`${name} stale (${formatDuration(Math.max(0, age))} old > ${formatDuration(options.stale_after)})`);
    } else usable[name] = reading.value;
  }
  const names = Object.keys(usable);
  const droppedNote = dropped.length > 0 ? ` (${dropped.join('; ')})` : '';
  if (names.length === 0) {
    const why = dropped.length > 0 ? dropped.join('; ') : 'no sources';
    return { value: null, reason: `no usable source: ${why}, holds`, used: [] };
  }
  const listed = names.map((n) => `${n} ${fmt(usable[n] as number)}`).join(', ');
  const values = names.map((n) => usable[n] as number);
  switch (options.mode) {
    case 'max':
    case 'min': {
      const value = options.mode === 'max' ? Math.max(...values) : Math.min(...values);
      return { value, reason: `${options.mode} of ${listed} = ${fmt(value)}${droppedNote}`, used: names };
    }
    case 'sum':
    case 'avg': {
      const sum = values.reduce((a, b) => a + b, 0);
      const value = options.mode === 'sum' ? sum : sum / values.length;
      return { value, reason: `${options.mode} of ${listed} = ${fmt(value)}${droppedNote}`, used: names };
    }
    case 'formula':
      return evaluateFormula(options.formula ?? '', usable, listed, droppedNote, names);
  }
}

async function evaluateFormula(
  formula: string,
  usable: Record<string, number>,
  listed: string,
  droppedNote: string,
  names: string[],
): Promise<Combined> {
  let result: unknown;
  try {
    result = await compile(formula).evaluate(usable);
  } catch (error) {
    return { value: null, reason: `formula "${formula}" failed: ${(error as Error).message}, holds`, used: [] };
  }
  if (typeof result !== 'number' || !Number.isFinite(result)) {
    const found = result === undefined ? 'nothing' : JSON.stringify(result);
    return { value: null, reason: `formula "${formula}" over ${listed} gave ${found}, not a number, holds`, used: [] };
  }
  return { value: result, reason: `${formula} over ${listed} = ${fmt(result)}${droppedNote}`, used: names };
}
