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
  return jsonCopy(result) as EventData;
}

/** Deeper than this, `jsonCopy` leaves the work (and the circular-structure error) to JSON itself. */
const MAX_COPY_DEPTH = 500;

/**
 * What `JSON.parse(JSON.stringify(value))` gives, without the text in between: it drops what
 * JSONata can hold but events cannot (functions, undefined, sequence flags on arrays), turns
 * non-finite numbers into null and -0 into 0, calls toJSON (dates), and copies, so the event
 * shares nothing with the expression's input. Once per evaluation, so no string is built.
 * test/connectors/transforms/json-copy.test.ts checks it against the round trip on arbitrary values.
 */
export function jsonCopy(value: unknown, key = '', depth = 0): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value + 0 : null;
    case 'object':
      break;
    case 'bigint':
      return JSON.parse(JSON.stringify(value)); // throws as JSON does
    default:
      return undefined; // function, symbol, undefined
  }
  if (value === null) return null;
  if (depth > MAX_COPY_DEPTH) return JSON.parse(JSON.stringify(value));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return jsonCopy(toJSON.call(value, key), key, depth + 1);
  if (value instanceof Number || value instanceof String || value instanceof Boolean)
    return jsonCopy(value.valueOf(), key, depth + 1);
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = jsonCopy(value[i], String(i), depth + 1) ?? null;
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(value)) {
    const copied = jsonCopy((value as Record<string, unknown>)[name], name, depth + 1);
    if (copied === undefined) continue;
    // JSON.parse makes "__proto__" an own property; an assignment would set the prototype.
    if (name === '__proto__')
      Object.defineProperty(out, name, { value: copied, enumerable: true, writable: true, configurable: true });
    else out[name] = copied;
  }
  return out;
}

/** The `jsonata` transform: the expression's result over the event data is the output. */
export function compileJsonataTransform(expression: string): (data: EventData) => Promise<EventData> {
  const evaluate = compileJsonata(expression);
  return async (data) => requireObject(await evaluate(data), 'the JSONata expression');
}
