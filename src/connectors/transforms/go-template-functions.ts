/**
 * The sprig helpers the go_template transform supports, and how values print. Kept apart
 * from the parser so the maths can be read (and tested) on its own.
 *
 * Deliberate differences from sprig, each so a broken event is an error rather than a
 * made-up number:
 * - sprig converts every argument of add/sub/mul/div/max/min to int64 (a string that is
 *   not a number becomes 0); here integers stay integers (div truncates toward zero, as Go
 *   and sprig do), a non-integer switches to float maths, numeric strings are read as
 *   numbers, and anything else is an error. sprig's `divf` (always exact) is there too,
 *   since a JSON 2.0 arrives as the integer 2.
 * - a missing field is an error everywhere except as an argument of `default`.
 * - objects and arrays print as JSON (Go would print `map[...]`, useless in a JSON template).
 */

export class GoTemplateError extends Error {
  override name = 'GoTemplateError';
}

/** A field that the event data does not have (or holds null): only `default` accepts it. */
export class MissingValue {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {}
}

export type TemplateValue = unknown;

export interface FunctionSpec {
  /** Fewest and most arguments, counting a piped value. */
  min: number;
  max: number;
  call(args: TemplateValue[], line: number): TemplateValue;
}

export const SUPPORTED_FUNCTIONS = [
  'add',
  'ceil',
  'default',
  'div',
  'divf',
  'floor',
  'max',
  'min',
  'mul',
  'quote',
  'sub',
];

export function missingError(value: MissingValue, line: number): GoTemplateError {
  return new GoTemplateError(`field ${value.field} ${value.detail} at line ${line}`);
}

/** Short, single-line description of a value for error messages. */
export function describeValue(value: TemplateValue): string {
  if (value instanceof MissingValue) return `missing ${value.field}`;
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function present(value: TemplateValue, line: number): unknown {
  if (value instanceof MissingValue) throw missingError(value, line);
  return value;
}

const NUMERIC_STRING = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

export function toNumber(fn: string, value: TemplateValue, line: number): number {
  const v = present(value, line);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && NUMERIC_STRING.test(v)) return Number(v);
  throw new GoTemplateError(`${fn}: expected a number, found ${describeValue(v)} at line ${line}`);
}

function numbers(fn: string, args: TemplateValue[], line: number): number[] {
  return args.map((a) => toNumber(fn, a, line));
}

/** sprig's `empty`: nil, false, 0, "", and empty lists and maps are empty. */
export function isEmpty(value: TemplateValue): boolean {
  if (value instanceof MissingValue || value === null || value === undefined) return true;
  if (value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** How an action's value is written into the output. */
export function printValue(value: TemplateValue, line: number): string {
  const v = present(value, line);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

function divide(fn: 'div' | 'divf', args: TemplateValue[], line: number): number {
  const [a, b] = numbers(fn, args, line) as [number, number];
  if (b === 0) throw new GoTemplateError(`${fn}: division by zero at line ${line}`);
  // Integer division truncates toward zero, as Go's int64 division (and sprig's div) does.
  // A JSON 2.0 arrives as the integer 2, so `divf` is how to ask for exact division.
  return fn === 'div' && Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b;
}

export const FUNCTIONS: Record<string, FunctionSpec> = {
  add: { min: 1, max: Infinity, call: (args, line) => numbers('add', args, line).reduce((s, n) => s + n, 0) },
  sub: {
    min: 2,
    max: 2,
    call: (args, line) => {
      const [a, b] = numbers('sub', args, line) as [number, number];
      return a - b;
    },
  },
  mul: { min: 1, max: Infinity, call: (args, line) => numbers('mul', args, line).reduce((p, n) => p * n, 1) },
  div: { min: 2, max: 2, call: (args, line) => divide('div', args, line) },
  divf: { min: 2, max: 2, call: (args, line) => divide('divf', args, line) },
  max: { min: 1, max: Infinity, call: (args, line) => Math.max(...numbers('max', args, line)) },
  min: { min: 1, max: Infinity, call: (args, line) => Math.min(...numbers('min', args, line)) },
  ceil: { min: 1, max: 1, call: (args, line) => Math.ceil(toNumber('ceil', args[0], line)) },
  floor: { min: 1, max: 1, call: (args, line) => Math.floor(toNumber('floor', args[0], line)) },
  // sprig: `default DEFAULT GIVEN`, GIVEN usually piped in: `{{ .x | default 3 }}`.
  default: { min: 2, max: 2, call: (args) => (isEmpty(args[1]) ? args[0] : args[1]) },
  quote: {
    min: 1,
    max: Infinity,
    call: (args, line) => args.map((a) => JSON.stringify(printValue(a, line))).join(' '),
  },
};
