/**
 * The subset of Go's text/template (with sprig helpers) that the original waymond's CI
 * configs use in `go_template` transforms, compiled once at config time:
 *
 *   text {{ .field }} {{ .a.b }} {{- trimmed -}} {{ add .x 1 }} {{ div (mul .x 3) 2 }}
 *   {{ .x | default 3 }} {{ quote .name }} {{/* comments *\/}} "strings" `raw` 1 2.5 true
 *
 * Anything else (`if`, `range`, `$vars`, other functions) is rejected at compile time with
 * its name and line, so a config that would misbehave never starts. Rendering a missing
 * field is an error (Go would print `<no value>` into the JSON), except under `default`.
 */
import type { EventData } from '../../core/types.js';
import {
  FUNCTIONS,
  GoTemplateError,
  MissingValue,
  missingError,
  printValue,
  SUPPORTED_FUNCTIONS,
  type TemplateValue,
} from './go-template-functions.js';

export { GoTemplateError } from './go-template-functions.js';

type Operand =
  | { kind: 'field'; path: string[] }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'pipeline'; pipeline: Pipeline };

type Command = { kind: 'call'; fn: string; args: Operand[] } | { kind: 'operand'; operand: Operand };

interface Pipeline {
  commands: Command[];
}

type TemplateNode = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Pipeline; line: number };

type Token =
  | { kind: 'field'; path: string[] }
  | { kind: 'ident'; name: string }
  | { kind: 'literal'; value: string | number }
  | { kind: 'pipe' | 'open' | 'close' };

export interface GoTemplate {
  /** Renders the template as text; throws GoTemplateError on a missing field or a bad argument. */
  render(data: EventData): string;
}

/** Go template keywords: constructs this subset does not run. */
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);
const SPACE = /[ \t\r\n]/;
const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{N}_]/u;
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/;
const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
};

function unsupported(what: string, line: number): GoTemplateError {
  return new GoTemplateError(`unsupported template construct "${what}" at line ${line}`);
}

/** Compiles `source`; throws GoTemplateError naming the construct and line when it cannot. */
export function compileGoTemplate(source: string): GoTemplate {
  const nodes = parseTemplate(source);
  return {
    render(data) {
      let out = '';
      for (const node of nodes) {
        out += node.kind === 'text' ? node.text : printValue(evalPipeline(node.pipeline, data, node.line), node.line);
      }
      return out;
    },
  };
}

/** Compiles a template whose output is a JSON object: the `go_template` transform. */
export function compileGoTemplateTransform(source: string): (data: EventData) => EventData {
  const template = compileGoTemplate(source);
  return (data) => parseRenderedJson(template.render(data));
}

export function parseRenderedJson(output: string): EventData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch (error) {
    throw new GoTemplateError(`template output is not valid JSON (${(error as Error).message}): ${excerpt(output)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const found = Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed);
    throw new GoTemplateError(`template output must be a JSON object, found ${found}: ${excerpt(output)}`);
  }
  return parsed as EventData;
}

function excerpt(text: string, limit = 200): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > limit ? `${trimmed.slice(0, limit)}…` : trimmed);
}

// ---------------------------------------------------------------- scanning

function parseTemplate(source: string): TemplateNode[] {
  const nodes: TemplateNode[] = [];
  const lineAt = (pos: number) => source.slice(0, pos).split('\n').length;
  let pos = 0;
  let trimNext = false;
  const pushText = (text: string) => {
    const value = trimNext ? text.replace(/^[ \t\r\n]+/, '') : text;
    if (value !== '') nodes.push({ kind: 'text', text: value });
  };
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    if (open < 0) {
      pushText(source.slice(pos));
      break;
    }
    let text = source.slice(pos, open);
    let p = open + 2;
    // `{{- ` trims the text before; `{{-3}}` is the number -3, as in Go.
    if (source[p] === '-' && SPACE.test(source[p + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 1;
    }
    pushText(text);
    const line = lineAt(open);
    const action = scanAction(source, p, line);
    pos = action.end;
    trimNext = action.trimRight;
    if (action.tokens) nodes.push({ kind: 'action', pipeline: parseAction(action.tokens, line), line });
  }
  return nodes;
}

interface ScannedAction {
  /** Undefined for a comment. */
  tokens?: Token[];
  end: number;
  trimRight: boolean;
}

/** Reads one action's tokens from `start` (just past `{{` and any trim marker) to its `}}`. */
function scanAction(src: string, start: number, line: number): ScannedAction {
  let p = start;
  const skipSpace = () => {
    while (p < src.length && SPACE.test(src[p] as string)) p++;
  };
  const closeAt = (): ScannedAction['trimRight'] | undefined => {
    if (src.startsWith('}}', p)) return false;
    if (src.startsWith('-}}', p) && SPACE.test(src[p - 1] ?? '')) return true;
    return undefined;
  };
  skipSpace();
  if (src.startsWith('/*', p)) {
    const end = src.indexOf('*/', p + 2);
    if (end < 0) throw new GoTemplateError(`unclosed comment at line ${line}`);
    p = end + 2;
    skipSpace();
    const trimRight = closeAt();
    if (trimRight === undefined) throw new GoTemplateError(`comment must end at the closing "}}" at line ${line}`);
    return { end: p + (trimRight ? 3 : 2), trimRight };
  }
  const tokens: Token[] = [];
  for (;;) {
    skipSpace();
    if (p >= src.length) throw new GoTemplateError(`unclosed action (no "}}") at line ${line}`);
    const trimRight = closeAt();
    if (trimRight !== undefined) return { tokens, end: p + (trimRight ? 3 : 2), trimRight };
    const c = src[p] as string;
    const tokenLine = line + (src.slice(start, p).match(/\n/g)?.length ?? 0);
    if (c === '|') {
      tokens.push({ kind: 'pipe' });
      p++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'open' : 'close' });
      p++;
    } else if (c === '.' && IDENT_START.test(src[p + 1] ?? '')) {
      const path: string[] = [];
      while (src[p] === '.' && IDENT_START.test(src[p + 1] ?? '')) {
        let q = p + 1;
        while (q < src.length && IDENT_PART.test(src[q] as string)) q++;
        path.push(src.slice(p + 1, q));
        p = q;
      }
      tokens.push({ kind: 'field', path });
    } else if (c === '.' && !/\d/.test(src[p + 1] ?? '')) {
      tokens.push({ kind: 'field', path: [] });
      p++;
    } else if (c === '"') {
      const { value, end } = readQuoted(src, p, tokenLine);
      tokens.push({ kind: 'literal', value });
      p = end;
    } else if (c === '`') {
      const end = src.indexOf('`', p + 1);
      if (end < 0) throw new GoTemplateError(`unterminated raw string at line ${tokenLine}`);
      tokens.push({ kind: 'literal', value: src.slice(p + 1, end) });
      p = end + 1;
    } else if (NUMBER.test(src.slice(p, p + 64))) {
      const text = (NUMBER.exec(src.slice(p)) as RegExpExecArray)[0];
      if (IDENT_PART.test(src[p + text.length] ?? '')) throw unsupported(`${text}${src[p + text.length]}`, tokenLine);
      tokens.push({ kind: 'literal', value: Number(text) });
      p += text.length;
    } else if (c === '$') {
      let q = p + 1;
      while (q < src.length && IDENT_PART.test(src[q] as string)) q++;
      throw unsupported(src.slice(p, q), tokenLine);
    } else if (IDENT_START.test(c)) {
      let q = p;
      while (q < src.length && IDENT_PART.test(src[q] as string)) q++;
      tokens.push({ kind: 'ident', name: src.slice(p, q) });
      p = q;
    } else {
      throw new GoTemplateError(`unexpected ${JSON.stringify(c)} in action at line ${tokenLine}`);
    }
  }
}

function readQuoted(src: string, start: number, line: number): { value: string; end: number } {
  let value = '';
  let p = start + 1;
  while (p < src.length) {
    const c = src[p] as string;
    if (c === '"') return { value, end: p + 1 };
    if (c === '\n') break;
    if (c !== '\\') {
      value += c;
      p++;
      continue;
    }
    const e = src[p + 1] ?? '';
    const hex = { x: 2, u: 4, U: 8 }[e];
    if (e in ESCAPES) {
      value += ESCAPES[e];
      p += 2;
    } else if (hex !== undefined && /^[0-9a-fA-F]+$/.test(src.slice(p + 2, p + 2 + hex)) && src.length >= p + 2 + hex) {
      value += String.fromCodePoint(Number.parseInt(src.slice(p + 2, p + 2 + hex), 16));
      p += 2 + hex;
    } else {
      throw new GoTemplateError(`invalid escape "\\${e}" in string at line ${line}`);
    }
  }
  throw new GoTemplateError(`unterminated string at line ${line}`);
}

// ---------------------------------------------------------------- parsing

function parseAction(tokens: Token[], line: number): Pipeline {
  if (tokens.length === 0) throw new GoTemplateError(`empty action "{{ }}" at line ${line}`);
  let i = 0;
  const pipeline = (): Pipeline => {
    const commands: Command[] = [];
    for (;;) {
      commands.push(command(commands.length));
      const next = tokens[i];
      if (next?.kind !== 'pipe') return { commands };
      i++;
    }
  };
  const command = (stage: number): Command => {
    const first = tokens[i];
    if (!first || first.kind === 'pipe' || first.kind === 'close') {
      throw new GoTemplateError(`missing command ${stage > 0 ? 'after "|" ' : ''}at line ${line}`);
    }
    if (first.kind === 'ident' && first.name !== 'true' && first.name !== 'false') {
      const spec = functionSpec(first.name, line);
      i++;
      const args: Operand[] = [];
      while (i < tokens.length && tokens[i]?.kind !== 'pipe' && tokens[i]?.kind !== 'close') args.push(operand());
      const count = args.length + (stage > 0 ? 1 : 0);
      if (count < spec.min || count > spec.max) {
        const wanted = spec.min === spec.max ? `${spec.min}` : spec.max === Infinity ? `at least ${spec.min}` : '';
        throw new GoTemplateError(
          `${first.name} takes ${wanted} argument${spec.min === 1 && spec.max === 1 ? '' : 's'}, found ${count}${stage > 0 ? ' (counting the piped value)' : ''} at line ${line}`,
        );
      }
      return { kind: 'call', fn: first.name, args };
    }
    const value = operand();
    if (stage > 0) throw new GoTemplateError(`only a function can receive a piped value at line ${line}`);
    const extra = tokens[i];
    if (extra && extra.kind !== 'pipe' && extra.kind !== 'close') {
      throw new GoTemplateError(`can't give an argument to a non-function at line ${line}`);
    }
    return { kind: 'operand', operand: value };
  };
  const operand = (): Operand => {
    const token = tokens[i++];
    switch (token?.kind) {
      case 'field':
        return { kind: 'field', path: token.path };
      case 'literal':
        return { kind: 'literal', value: token.value };
      case 'ident':
        if (token.name === 'true' || token.name === 'false') return { kind: 'literal', value: token.name === 'true' };
        functionSpec(token.name, line);
        throw new GoTemplateError(`function "${token.name}" used as an argument needs parentheses at line ${line}`);
      case 'open': {
        const inner = pipeline();
        if (tokens[i]?.kind !== 'close') throw new GoTemplateError(`unclosed "(" at line ${line}`);
        i++;
        return { kind: 'pipeline', pipeline: inner };
      }
      default:
        throw new GoTemplateError(
          `unexpected ${token ? `"${token.kind === 'close' ? ')' : '|'}"` : 'end of action'} at line ${line}`,
        );
    }
  };
  const result = pipeline();
  if (i < tokens.length) throw new GoTemplateError(`unexpected ")" at line ${line}`);
  return result;
}

function functionSpec(name: string, line: number) {
  if (KEYWORDS.has(name) || name === 'nil') throw unsupported(name, line);
  const spec = FUNCTIONS[name];
  if (!spec) {
    throw new GoTemplateError(
      `unsupported template function "${name}" at line ${line} (supported: ${SUPPORTED_FUNCTIONS.join(', ')})`,
    );
  }
  return spec;
}

// ---------------------------------------------------------------- evaluation

function evalPipeline(pipeline: Pipeline, data: EventData, line: number): TemplateValue {
  let piped: TemplateValue;
  pipeline.commands.forEach((command, stage) => {
    if (command.kind === 'operand') {
      piped = evalOperand(command.operand, data, line);
      return;
    }
    const args = command.args.map((a) => evalOperand(a, data, line));
    if (stage > 0) args.push(piped);
    // Only `default` may see a missing field: every other function needs a real value.
    if (command.fn !== 'default') {
      const missing = args.find((a) => a instanceof MissingValue);
      if (missing) throw missingError(missing as MissingValue, line);
    }
    piped = (FUNCTIONS[command.fn] as (typeof FUNCTIONS)[string]).call(args, line);
  });
  return piped;
}

function evalOperand(operand: Operand, data: EventData, line: number): TemplateValue {
  if (operand.kind === 'literal') return operand.value;
  if (operand.kind === 'pipeline') return evalPipeline(operand.pipeline, data, line);
  return lookupField(data, operand.path, line);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function lookupField(data: EventData, path: string[], line: number): TemplateValue {
  const name = `.${path.join('.')}`;
  let current: unknown = data;
  for (const [i, key] of path.entries()) {
    const parent = `.${path.slice(0, i).join('.')}`;
    if (!isObject(current)) {
      const found = Array.isArray(current) ? 'an array' : typeof current;
      throw new GoTemplateError(`cannot read field ${name}: ${parent} is ${found}, not an object at line ${line}`);
    }
    if (!Object.hasOwn(current, key)) {
      const keys = Object.keys(current);
      const present = keys.length === 0 ? 'none' : keys.slice(0, 10).join(', ') + (keys.length > 10 ? ', …' : '');
      const where = i === 0 ? '' : `${parent} has no "${key}"; `;
      return new MissingValue(name, `is missing in the event data (${where}fields present: ${present})`);
    }
    current = current[key];
    if (current === null || current === undefined) {
      const at = `.${path.slice(0, i + 1).join('.')}`;
      return new MissingValue(
        name,
        at === name ? 'is null in the event data' : `is missing in the event data (${at} is null)`,
      );
    }
  }
  return current;
}
