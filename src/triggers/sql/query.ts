/**
 * Shared pieces of the SQL polling triggers (postgres, mysql): the config fields, the
 * one-statement rule, reading the DSN from the environment, keeping its password out of
 * messages, and turning a result set into exactly one number or a precise complaint.
 */
import { z } from 'zod';
import { duration } from '../../core/duration.js';
import { secretFromEnv } from '../poller.js';

export type SqlDialectName = 'postgres' | 'mysql';

/** The config fields every SQL trigger has; the query is checked with its dialect's quoting rules. */
export const sqlFields = (dialect: SqlDialectName) => ({
  query: z
    .string()
    .transform((text, ctx) => {
      const statement = stripTrailingSemicolons(text);
      if (statement === '') {
        ctx.addIssue({ code: 'custom', message: 'expected one SQL statement, found an empty query' });
        return z.NEVER;
      }
      if (hasSecondStatement(statement, dialect)) {
        ctx.addIssue({
          code: 'custom',
          message: 'expected one SQL statement, found several separated by ";" (only one query is run per poll)',
        });
        return z.NEVER;
      }
      return statement;
    })
    .describe(
      "One SQL statement returning exactly one row with one numeric column, e.g. `SELECT count(*) FROM jobs WHERE state = 'pending'`. A NULL, a text value, several rows or columns are error events, never a zero.",
    ),
  dsn_env: secretFromEnv
    .optional()
    .describe('Name of the environment variable holding the connection string (use this when it carries a password).'),
  dsn: z
    .string()
    .optional()
    .describe(
      'Connection string written in the config; only for DSNs without a password. Exactly one of `dsn` and `dsn_env`.',
    ),
  statement_timeout: duration(
    'The server cancels the query after this long; must be shorter than `timeout`, so a slow query is stopped rather than left running.',
  ).default(5000),
});

interface SqlDsnConfig {
  dsn?: string | undefined;
  dsn_env?: string | undefined;
  statement_timeout: number;
  timeout: number;
}

/** Cross-field rules of an SQL trigger's config (attach with `.superRefine`). */
export function checkSqlConfig(value: SqlDsnConfig, ctx: z.RefinementCtx): void {
  if ((value.dsn === undefined) === (value.dsn_env === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['dsn_env'],
      message: 'expected exactly one of `dsn_env` (name of an environment variable) and `dsn`',
    });
  }
  if (value.dsn !== undefined && dsnPassword(value.dsn) !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['dsn'],
      message: 'this DSN carries a password; put it in an environment variable and name it in `dsn_env`',
    });
  }
  if (value.statement_timeout >= value.timeout) {
    ctx.addIssue({
      code: 'custom',
      path: ['statement_timeout'],
      message: `expected statement_timeout (${value.statement_timeout} ms) shorter than timeout (${value.timeout} ms)`,
    });
  }
}

/** The DSN from the config or its environment variable; throws a message naming the variable, never its value. */
export function resolveDsn(
  config: { dsn?: string | undefined; dsn_env?: string | undefined },
  address: string,
): string {
  if (config.dsn !== undefined) return config.dsn;
  const name = config.dsn_env;
  if (name === undefined) throw new Error(`${address}: expected exactly one of \`dsn_env\` and \`dsn\``);
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`${address}: environment variable ${name} (dsn_env) is not set`);
  }
  return value;
}

function dsnPassword(dsn: string): string | undefined {
  try {
    const password = new URL(dsn).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    // Key/value DSNs ("host=... password=...") are not URLs.
    return /\bpassword\s*=\s*'?([^'\s]+)/i.exec(dsn)?.[1];
  }
}

/** Removes the DSN and its password from a driver's message, in case a driver ever echoes them. */
export function redactDsn(message: string, dsn: string): string {
  let out = message.split(dsn).join('<dsn>');
  const password = dsnPassword(dsn);
  if (password) {
    out = out.split(password).join('***');
    out = out.split(encodeURIComponent(password)).join('***');
  }
  return out;
}

function stripTrailingSemicolons(text: string): string {
  return text
    .trim()
    .replace(/(\s*;)+$/, '')
    .trim();
}

/**
 * True when a `;` outside quotes and comments is followed by more SQL. Each dialect's
 * quoting is honoured: both have '…', "…", -- and /* *\/; MySQL adds `…`, # comments and
 * backslash escapes, PostgreSQL $tag$…$tag$ (where a backslash is an ordinary character).
 * A false negative is caught by the server anyway (pg's extended protocol and mysql2
 * without multipleStatements both refuse a second statement).
 */
export function hasSecondStatement(sql: string, dialect: SqlDialectName): boolean {
  const mysql = dialect === 'mysql';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === "'" || c === '"' || (mysql && c === '`')) {
      // PostgreSQL honours backslash escapes only in E'…' strings.
      const escapeString = c === "'" && /(^|[^A-Za-z0-9_])[Ee]$/.test(sql.slice(Math.max(0, i - 2), i));
      i = skipQuoted(sql, i, c, mysql || escapeString);
    } else if ((c === '-' && next === '-') || (mysql && c === '#')) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (!mysql && c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? sql.length : end + tag.length;
      } else {
        i++;
      }
    } else if (c === ';') {
      return sql.slice(i + 1).trim() !== '';
    } else {
      i++;
    }
  }
  return false;
}

function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\' && quote !== '`') {
      i += 2;
    } else if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

export interface SqlColumn {
  name: string;
  /** Human name of the column's type ("text", "bigint"…), for messages. */
  typeName: string;
  /** Whether the driver may hand back a numeric string for this type (bigint, numeric, decimal). */
  numeric: boolean;
}

/** The one number of a one-row, one-column result, or an error saying what came back instead. */
export function singleNumber(rows: unknown[][], columns: SqlColumn[]): number {
  if (rows.length !== 1) {
    throw new Error(
      rows.length === 0
        ? 'query returned no rows, expected exactly one'
        : `query returned ${rows.length} rows, expected exactly one`,
    );
  }
  if (columns.length !== 1) {
    const names = columns.map((c) => `"${c.name}"`).join(', ');
    throw new Error(`query returned ${columns.length} columns (${names}), expected exactly one`);
  }
  const column = columns[0] as SqlColumn;
  const cell = (rows[0] as unknown[])[0];
  const what = `column "${column.name}"`;
  if (cell === null || cell === undefined) {
    throw new Error(`${what} is NULL, expected a number (wrap it in COALESCE(…, 0) if no rows means zero)`);
  }
  if (typeof cell === 'number') return cell;
  if (typeof cell === 'bigint') {
    if (cell > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what} is ${cell}, too large to be exact`);
    return Number(cell);
  }
  if (typeof cell === 'string' && column.numeric && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(cell)) {
    return Number(cell);
  }
  const shown = typeof cell === 'string' ? `'${cell.length > 40 ? `${cell.slice(0, 40)}…` : cell}'` : describe(cell);
  const hint = column.numeric ? '' : '; cast it to a number in the query';
  throw new Error(`${what} is ${column.typeName} ${shown}, expected a number${hint}`);
}

function describe(cell: unknown): string {
  if (cell instanceof Date) return cell.toISOString();
  if (Buffer.isBuffer(cell)) return `<${cell.length} bytes>`;
  const json = JSON.stringify(cell) ?? String(cell);
  return json.length > 40 ? `${json.slice(0, 40)}…` : json;
}
