/**
 * One SQL polling trigger for every dialect (postgres, mysql): the same config fields and
 * checks (sqlFields), the DSN from the config or its variable with its password kept out of
 * every message, one pooled connection per trigger, and a result that must be exactly one
 * number. A dialect only says how to open its pool, run one query and describe the columns.
 */
import type { z } from 'zod';
import { errorMessage } from '../../core/context.js';
import { triggerSchema } from '../../core/schema.js';
import type { ComponentContext, Trigger, TriggerDefinition } from '../../core/types.js';
import { createPoller, pollingFields } from '../poller.js';
import {
  checkSqlConfig,
  redactDsn,
  resolveDsn,
  type SqlColumn,
  type SqlDialectName,
  singleNumber,
  sqlFields,
} from './query.js';

const sqlSchema = (dialect: SqlDialectName) =>
  triggerSchema(dialect, { ...sqlFields(dialect), ...pollingFields }).superRefine(checkSqlConfig);

export type SqlSchema = ReturnType<typeof sqlSchema>;
export type SqlConfig = z.output<SqlSchema>;

/** The result of one statement: rows as arrays, and what each column is. */
export interface SqlResult {
  rows: unknown[][];
  columns: SqlColumn[];
}

/** A statement that ran but gave no result set: said as is, never prefixed as a driver failure. */
export class NoResultSet extends Error {}

export interface SqlPool {
  /** Runs one statement; a driver error is thrown as is (the trigger redacts and wraps it). */
  query(sql: string): Promise<SqlResult>;
  close(): Promise<void>;
}

export interface SqlDialect {
  name: SqlDialectName;
  summary: string;
  example: string;
  /** Opens the pool (the driver is loaded here, so configs without this dialect never pay for it). */
  openPool(config: SqlConfig, ctx: ComponentContext, dsn: string): Promise<SqlPool>;
}

export function sqlTrigger(dialect: SqlDialect): TriggerDefinition<SqlSchema> {
  return {
    kind: 'trigger',
    type: dialect.name,
    summary: dialect.summary,
    schema: sqlSchema(dialect.name),
    acceptsInput: true,
    example: dialect.example,
    create(config, ctx) {
      // A missing DSN variable is reported at once, before the driver is loaded.
      const dsn = resolveDsn(config, ctx.address);
      return createSqlTrigger(dialect, config, ctx, dsn);
    },
  };
}

async function createSqlTrigger(
  dialect: SqlDialect,
  config: SqlConfig,
  ctx: ComponentContext,
  dsn: string,
): Promise<Trigger> {
  const pool = await dialect.openPool(config, ctx, dsn);
  let closed = false;
  return createPoller(ctx, config, {
    async poll() {
      let result: SqlResult;
      try {
        result = await pool.query(config.query);
      } catch (error) {
        if (error instanceof NoResultSet) throw error;
        throw new Error(`${dialect.name} query failed: ${redactDsn(errorMessage(error), dsn)}`);
      }
      const value = singleNumber(result.rows, result.columns);
      return { value, column: result.columns[0]?.name };
    },
    async close() {
      // stop() may be called twice (shutdown after a reload); ending a pool twice throws.
      if (closed) return;
      closed = true;
      await pool.close();
    },
  });
}
