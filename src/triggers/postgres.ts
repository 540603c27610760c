/**
 * Polls a PostgreSQL query that returns one number. pg is loaded by create(), not imported
 * here: most configs have no postgres trigger, and loading it costs every run of waymond
 * about 15 MiB (startup memory).
 */
import type { FieldDef, QueryArrayConfig, QueryResult } from 'pg';
import type { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { triggerSchema } from '../core/schema.js';
import type { ComponentContext, Trigger, TriggerDefinition } from '../core/types.js';
import { createPoller, pollingFields } from './poller.js';
import { checkSqlConfig, redactDsn, resolveDsn, type SqlColumn, singleNumber, sqlFields } from './sql-query.js';

const schema = triggerSchema('postgres', { ...sqlFields('postgres'), ...pollingFields }).superRefine(checkSqlConfig);

type PostgresConfig = z.output<typeof schema>;
type Pg = typeof import('pg')['default'];

/** Describes result columns with pg's table of built-in type ids. */
function columnReader(pg: Pg): (field: FieldDef) => SqlColumn {
  const { builtins } = pg.types;
  // Types whose values pg hands back as strings that are still numbers (bigint, numeric).
  const numericOids = new Set<number>([
    builtins.INT2,
    builtins.INT4,
    builtins.INT8,
    builtins.OID,
    builtins.NUMERIC,
    builtins.FLOAT4,
    builtins.FLOAT8,
  ]);
  const typeNames = new Map<number, string>(
    Object.entries(builtins).map(([name, oid]) => [oid as number, name.toLowerCase()]),
  );
  return (field) => ({
    name: field.name,
    typeName: typeNames.get(field.dataTypeID) ?? `type ${field.dataTypeID}`,
    numeric: numericOids.has(field.dataTypeID),
  });
}

export const postgres: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'postgres',
  summary: 'Polls a PostgreSQL query that returns one number (e.g. pending jobs in a table).',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "postgres"
id = "pending_jobs"
dsn_env = "JOBS_DATABASE_URL"
query = "SELECT count(*) FROM jobs WHERE state = 'pending'"
interval = "15s"
statement_timeout = "5s"`,
  create(config, ctx) {
    // A missing DSN variable is reported at once, before pg is loaded.
    const dsn = resolveDsn(config, ctx.address);
    return createPostgresTrigger(config, ctx, dsn);
  },
};

async function createPostgresTrigger(config: PostgresConfig, ctx: ComponentContext, dsn: string): Promise<Trigger> {
  const { default: pg } = await import('pg');
  const column = columnReader(pg);
  // One pooled connection: a poll never runs twice at once, and the pool reconnects after
  // the server went away, which a bare Client does not.
  const pool = new pg.Pool({
    connectionString: dsn,
    max: 1,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: config.timeout,
    // Server side: PostgreSQL cancels the statement. Client side: a backstop for a server
    // that stops answering altogether.
    statement_timeout: config.statement_timeout,
    query_timeout: config.statement_timeout + 1000,
    application_name: `waymond ${ctx.address}`,
  });
  // An idle connection that breaks (server restart) is reported here; unhandled, it would
  // crash the daemon. The next poll reconnects.
  pool.on('error', (error) => ctx.logger.warn({ err: redactDsn(errorMessage(error), dsn) }, 'idle connection lost'));

  let closed = false;
  return createPoller(ctx, config, {
    async poll() {
      let result: QueryResult<unknown[]>;
      try {
        // The extended protocol makes the server refuse a second statement outright.
        const query: QueryArrayConfig & { queryMode: 'extended' } = {
          text: config.query,
          rowMode: 'array',
          queryMode: 'extended',
        };
        result = await pool.query(query);
      } catch (error) {
        throw new Error(`postgres query failed: ${redactDsn(errorMessage(error), dsn)}`);
      }
      const value = singleNumber(result.rows, result.fields.map(column));
      return { value, column: result.fields[0]?.name };
    },
    async close() {
      // stop() may be called twice (shutdown after a reload); ending a pool twice throws.
      if (closed) return;
      closed = true;
      await pool.end();
    },
  });
}
