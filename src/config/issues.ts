/**
 * Config problems, reported all at once. Each names the file, the component address and the
 * field path, and says what was expected and what was found, never printing a secret.
 */
import type { z } from 'zod';
import { redactSecrets } from '../core/redact.js';
import { didYouMean, editDistance } from '../core/suggest.js';
import { refusalAt } from './refused-fields.js';
import { branchKeysAt, fieldOfAnotherBranch, noBranchMessage } from './switch-fields.js';

export interface ConfigIssue {
  severity: 'error' | 'warning';
  file: string;
  /** `scaler.workers`, or the section (`trigger[2]`) when the id is unknown. */
  address?: string;
  /** Dotted field path inside the component (`tiers[1].capacity`). */
  path?: string;
  message: string;
  /** 1-based position, for syntax errors. */
  line?: number;
  column?: number;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.file + (issue.line ? `:${issue.line}${issue.column ? `:${issue.column}` : ''}` : '')];
  if (issue.address) where.push(issue.address);
  if (issue.path) where.push(`field "${issue.path}"`);
  return `${issue.severity}: ${where.join(': ')}: ${issue.message}`;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

const SECRET_FIELD = /token|secret|password|passwd|credential|dsn|api_key|private_key/i;

export function isSecretField(path: readonly PropertyKey[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && SECRET_FIELD.test(last);
}

export function describeFound(value: unknown, secret = false): string {
  if (secret) return '(a value, not shown because the field is secret)';
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'a table';
  if (typeof value === 'string') {
    // Redact before cutting: a cut could fall inside a password and hide it from the redactor.
    const shown = redactSecrets(value);
    return `string ${JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown)}`;
  }
  return `${typeof value} ${String(value)}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

// Shared with the graph checks in core, which may not import this room.
export { didYouMean, editDistance };

/** The keys an object schema allows at `path` (for "did you mean" on unknown keys). */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { def?: Record<string, unknown>; _zod?: { def: Record<string, unknown> } };
    for (let i = 0; i < 10; i++) {
      const def = (cur?._zod?.def ?? cur?.def) as Record<string, unknown> | undefined;
      if (!def) return cur;
      const next = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
      if (!next) return cur;
      cur = next as typeof cur;
    }
    return cur;
  };
  for (const part of path) {
    current = unwrap(current);
    const def = (current as { _zod?: { def: Record<string, unknown> } })._zod?.def;
    if (!def) return [];
    if (typeof part === 'number' && def.type === 'array') current = def.element;
    else if (typeof part === 'string' && def.type === 'object') current = (def.shape as Record<string, unknown>)[part];
    else return [];
  }
  current = unwrap(current);
  const def = (current as { _zod?: { def: Record<string, unknown> } })._zod?.def;
  if (def?.type === 'object') return Object.keys(def.shape as Record<string, unknown>);
  return [];
}

interface LooseIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  input?: unknown;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  origin?: string;
  format?: string;
  errors?: LooseIssue[][];
  /** Set on a discriminated union's "no matching discriminator" issue. */
  discriminator?: string;
  options?: unknown[];
}

/**
 * Turns zod issues into sentences that say what was expected and what was found. `input`,
 * the value parsed, tells which branch of a switch a refused field was set in.
 */
export function zodIssueMessages(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  input?: unknown,
): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const raw of issues) {
    const issue = raw as unknown as LooseIssue;
    const secret = isSecretField(issue.path);
    const found = describeFound(issue.input, secret);
    // A value a scaler cannot honour (on_shutdown = "stop" where nothing can be stopped).
    const last = issue.path.at(-1);
    const refusedValue =
      issue.code === 'invalid_value' && typeof last === 'string'
        ? refusalAt(schema, issue.path.slice(0, -1), `${last}=${JSON.stringify(issue.input)}`, input)
        : undefined;
    if (refusedValue) {
      out.push({ path: formatPath(issue.path), message: refusedValue });
      continue;
    }
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys ?? []) {
          // An option this scaler cannot honour (busy_check on nomad): say why.
          const refused = refusalAt(schema, issue.path, key, issue.path.length === 0 ? issue.input : input);
          if (refused) {
            out.push({ path: formatPath([...issue.path, key]), message: refused });
            continue;
          }
          // A field of another mode (redis `queue` in mode "list"): say whose it is.
          const otherBranch = fieldOfAnotherBranch(schema, issue.path, key, issue.input);
          if (otherBranch) {
            out.push({ path: formatPath([...issue.path, key]), message: otherBranch });
            continue;
          }
          const allowed = branchKeysAt(schema, issue.path, issue.input) ?? keysAt(schema, issue.path);
          const guess = didYouMean(key, allowed);
          out.push({
            path: formatPath([...issue.path, key]),
            message: `unknown field${guess ? ` (did you mean "${guess}"?)` : ''}; allowed: ${allowed.join(', ')}`,
          });
        }
        continue;
      case 'invalid_type':
        out.push({
          path: formatPath(issue.path),
          message:
            issue.input === undefined
              ? `is required (expected ${issue.expected})`
              : `expected ${issue.expected}, found ${found}`,
        });
        continue;
      case 'invalid_value':
        out.push({
          path: formatPath(issue.path),
          message: `expected one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(', ')}, found ${found}`,
        });
        continue;
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const cmp = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
        const what = issue.origin === 'array' ? 'items' : issue.origin === 'string' ? 'characters' : '';
        out.push({
          path: formatPath(issue.path),
          message: `expected ${what ? `${cmp} ${String(bound)} ${what}` : `a value ${cmp} ${String(bound)}`}, found ${found}`,
        });
        continue;
      }
      case 'invalid_union': {
        if (issue.discriminator !== undefined) {
          const message = noBranchMessage(issue.discriminator, issue.options ?? [], issue.input, (v) =>
            describeFound(v, secret),
          );
          out.push({ path: formatPath(issue.path), message });
          continue;
        }
        if (issue.input === undefined) {
          out.push({ path: formatPath(issue.path), message: 'is required' });
          continue;
        }
        const note = issue.message.startsWith('Invalid input') ? 'does not match any allowed form' : issue.message;
        out.push({ path: formatPath(issue.path), message: `${note}, found ${found}` });
        continue;
      }
      default: {
        // Checks over a whole table (min > max) carry the table as input: nothing useful to quote.
        const quotable = issue.input !== undefined && (issue.input === null || typeof issue.input !== 'object');
        const message =
          issue.message.includes('found') || !quotable ? issue.message : `${issue.message}, found ${found}`;
        out.push({ path: formatPath(issue.path), message });
      }
    }
  }
  return out;
}
