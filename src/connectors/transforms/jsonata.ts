/**
 * JSONata expressions, compiled once at config time (a syntax error is a config error with
 * its position) and evaluated over event data. Used by the `jsonata` transform and by
 * triggers that extract data from a response (http_client's `extract`).
 */
import jsonata from 'jsonata';
import type { EventData } from '../../core/types.js';

export class JsonataError extends Error {
  override name = 'JsonataError';
}

/** Bounds on one evaluation, so a runaway expression (endless recursion) cannot hang the daemon. */
const LIMITS = { timeout: 1000, stack: 500 };

interface JsonataFailure {
  message?: string;
  position?: number;
  token?: string;
  code?: string;
}

function describeFailure(error: unknown): string {
  const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as JsonataFailure;
  const at = typeof failure.position === 'number' && failure.position > 0 ? ` at position ${failure.position}` : '';
  const code = failure.code ? ` [${failure.code}]` : '';
  return `${failure.message ?? 'unknown error'}${code}${at}`;
}

export type CompiledJsonata = (data: unknown, bindings?: Record<string, unknown>) => Promise<unknown>;

/** Compiles `expression`; throws JsonataError("invalid JSONata expression: ... at position N"). */
export function compileJsonata(expression: string): CompiledJsonata {
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(expression, LIMITS);
  } catch (error) {
    throw new JsonataError(`invalid JSONata expression: ${describeFailure(error)}`);
  }
  return async (data, bindings) => {
    try {
      return await compiled.evaluate(data, bindings);
    } catch (error) {
      throw new JsonataError(`JSONata evaluation failed: ${describeFailure(error)}`);
    }
  };
}

/** Checks that a JSONata result is one JSON object, and returns it as plain data. */
export function requireObject(result: unknown, what: string): EventData {
  if (result === undefined) throw new JsonataError(`${what} produced nothing (no part of the data matched)`);
  if (result === null || typeof result !== 'object' || Array.isArray(result)) {
    const found = Array.isArray(result) ? 'an array' : `${typeof result} ${JSON.stringify(result)}`;
    throw new JsonataError(`${what} must produce a JSON object, found ${found}`);
  }
  // A JSON round trip drops what JSONata can hold but events cannot (functions, sequence flags).
  return JSON.parse(JSON.stringify(result)) as EventData;
}

/** The `jsonata` transform: the expression's result over the event data is the output. */
export function compileJsonataTransform(expression: string): (data: EventData) => Promise<EventData> {
  const evaluate = compileJsonata(expression);
  return async (data) => requireObject(await evaluate(data), 'the JSONata expression');
}
