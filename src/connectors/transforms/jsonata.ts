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

function parse(expression: string): jsonata.Expression {
  try {
    return jsonata(expression, LIMITS);
  } catch (error) {
    throw new JsonataError(`invalid JSONata expression: ${describeFailure(error)}`);
  }
}

/** Compiles `expression`; throws JsonataError("invalid JSONata expression: ... at position N"). */
export function compileJsonata(expression: string): CompiledJsonata {
  return evaluator(parse(expression));
}

function evaluator(compiled: jsonata.Expression): CompiledJsonata {
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
 * test/connectors/transforms/jsonata-copy-memo.test.ts checks it against the round trip on arbitrary values.
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

/** JSONata's functions whose result is not fixed by their arguments: an expression using one is never memoised. */
const IMPURE_FUNCTIONS = new Set(['millis', 'now', 'random', 'eval']);

/** Whether the expression's result depends on nothing but its input: it names no impure function. */
export function isPureExpression(ast: unknown): boolean {
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    const { type, value } = node as { type?: unknown; value?: unknown };
    if (type === 'variable' && typeof value === 'string' && IMPURE_FUNCTIONS.has(value)) return false;
    stack.push(...Object.values(node));
  }
  return true;
}

/**
 * The input as a memo key: its JSON text when JSON holds it exactly (plain objects and arrays
 * of strings, booleans, null and finite numbers other than -0), else undefined (no memo), so
 * two inputs an expression could tell apart never share a key.
 */
export function memoKey(data: unknown): string | undefined {
  return exactlyJson(data, 0) ? JSON.stringify(data) : undefined;
}

/** Whether JSON holds `value` exactly (see memoKey); past MAX_COPY_DEPTH, no. */
function exactlyJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > MAX_COPY_DEPTH) return false;
  if (Array.isArray(value)) {
    if (Object.keys(value).length !== value.length) return false; // holes or extra fields
    for (const item of value) if (!exactlyJson(item, depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(value).length > 0) return false;
  for (const key in value) if (!exactlyJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

/** Results kept per transform: a steady signal repeats a handful of inputs. */
const MEMO_ENTRIES = 512;
/** Inputs bigger than this (as JSON) are evaluated each time: 512 of them must stay small. */
const MEMO_MAX_KEY_CHARS = 4096;

/**
 * The `jsonata` transform: the expression's result over the event data is the output.
 * A pure expression (see isPureExpression) is memoised on its input (see memoKey): a
 * poller or a simulated day feeds the same few inputs again and again, and evaluating
 * JSONata costs far more than a lookup. Each call still gets its own copy. At most
 * MEMO_ENTRIES inputs of up to MEMO_MAX_KEY_CHARS each are kept (about 2 MiB per transform).
 */
export function compileJsonataTransform(expression: string): (data: EventData) => Promise<EventData> {
  const compiled = parse(expression);
  const evaluate = evaluator(compiled);
  const run = async (data: EventData) => requireObject(await evaluate(data), 'the JSONata expression');
  if (!isPureExpression(compiled.ast())) return run;
  const memo = new Map<string, EventData>();
  return async (data) => {
    const key = memoKey(data);
    if (key === undefined || key.length > MEMO_MAX_KEY_CHARS) return run(data);
    const known = memo.get(key);
    if (known !== undefined) {
      memo.delete(key); // re-inserted: the map's order is the order of last use
      memo.set(key, known);
      return jsonCopy(known) as EventData;
    }
    const result = await run(data);
    if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
    memo.set(key, jsonCopy(result) as EventData);
    return result;
  };
}
