/**
 * The PostgreSQL dialect of the SQL trigger. pg is loaded when a postgres trigger is
 * created, not imported here: most configs have none, and loading it costs every run of
 * waymond about 15 MiB (startup memory).
 */
import type { FieldDef, QueryArrayConfig } from 'pg';
import { errorMessage } from '../../core/context.js';
import { sharedConnectionName } from '../shared-connection.js';
import { redactDsn, type SqlColumn } from './query.js';
import { SHARED_POOL_SIZE, type SqlDialect, sqlTrigger } from './trigger.js';

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

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  summary: 'Polls a PostgreSQL query that returns one number (e.g. pending jobs in a table).',
  example: `[[trigger]]
type = "postgres"
id = "pending_jobs"
dsn_env = "JOBS_DATABASE_URL"
query = "SELECT count(*) FROM jobs WHERE state = 'pending'"
interval = "15s"
statement_timeout = "5s"`,
  async openPool(config, ctx, dsn) {
    const { default: pg } = await import('pg');
    const column = columnReader(pg);
    // A pool shared by the triggers on this server (a trigger never polls twice at once, so
    // one alone uses one connection); it reconnects after the server went away, which a bare
    // Client does not.
    const pool = new pg.Pool({
      connectionString: dsn,
      max: SHARED_POOL_SIZE,
      idleTimeoutMillis: 0,
      connectionTimeoutMillis: config.timeout,
      // Server side: PostgreSQL cancels the statement. Client side: a backstop for a server
      // that stops answering altogether.
      statement_timeout: config.statement_timeout,
      query_timeout: config.statement_timeout + 1000,
      application_name: sharedConnectionName(' '),
    });
    // An idle connection that breaks (server restart) is reported here; unhandled, it would
    // crash the daemon. The next poll reconnects.
    pool.on('error', (error) => ctx.logger.warn({ err: redactDsn(errorMessage(error), dsn) }, 'idle connection lost'));
    return {
      async query(sql) {
        // The extended protocol makes the server refuse a second statement outright.
        const query: QueryArrayConfig & { queryMode: 'extended' } = {
          text: sql,
          rowMode: 'array',
          queryMode: 'extended',
        };
        const result = await pool.query<unknown[]>(query);
        return { rows: result.rows, columns: result.fields.map(column) };
      },
      close: () => pool.end(),
    };
  },
};

export const postgres = sqlTrigger(postgresDialect);
