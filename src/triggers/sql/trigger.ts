/**
 * One SQL polling trigger for every dialect (postgres, mysql): the same config fields and
 * checks (sqlFields), the DSN from the config or its variable with its password kept out of
 * every message, one pool per server shared by every trigger with the same DSN and timeouts
 * (at most SHARED_POOL_SIZE connections; one trigger alone uses one, since it never polls
 * twice at once), closed when the last of them stops, and a result that must be exactly one
 * number. A dialect only says how to open its pool, run one query and describe the columns.
 */
import type { z } from 'zod';
import { errorMessage } from '../../core/context.js';
import { triggerSchema } from '../../core/schema.js';
import type { ComponentContext, Trigger, TriggerDefinition } from '../../core/types.js';
import { createPoller, pollingFields } from '../poller.js';
import { connectionKey, type Lease, SharedConnections } from '../shared-connection.js';
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

/**
 * Connections of one shared pool: enough that a slow query of one trigger does not hold up
 * the others on the same server, few enough that thousands of triggers stay a handful.
 */
export const SHARED_POOL_SIZE = 4;

/** One pool per (dialect, DSN, statement_timeout, timeout) in this process. */
export const sqlPools = new SharedConnections<Promise<SqlPool>>(async (pool) => (await pool).close());

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
  const key = connectionKey(dialect.name, dsn, config.statement_timeout, config.timeout);
  const acquire = () => sqlPools.acquire(key, () => dialect.openPool(config, ctx, dsn));
  // Opened at create, so a driver that cannot load fails the trigger's start, not each poll.
  let lease: Lease<Promise<SqlPool>> | undefined = acquire();
  try {
    await lease.value;
  } catch (error) {
    await lease.release();
    throw error;
  }
  return createPoller(ctx, config, {
    async poll() {
      // Taken again after a stop, so a trigger started again (a reload) has its pool back.
      lease ??= acquire();
      const pool = await lease.value;
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
      // stop() may be called twice (shutdown after a reload): the lease is given back once.
      const held = lease;
      lease = undefined;
      await held?.release();
    },
  });
}
