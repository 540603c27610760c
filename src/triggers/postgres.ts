import pg from 'pg';
import { errorMessage } from '../core/context.js';
import { triggerSchema } from '../core/schema.js';
import type { TriggerDefinition } from '../core/types.js';
import { createPoller, pollingFields } from './poller.js';
import { checkSqlConfig, redactDsn, resolveDsn, type SqlColumn, singleNumber, sqlFields } from './sql-query.js';

const schema = triggerSchema('postgres', { ...sqlFields('postgres'), ...pollingFields }).superRefine(checkSqlConfig);

/** Types whose values pg hands back as strings that are still numbers (bigint, numeric). */
const NUMERIC_OIDS = new Set([
  pg.types.builtins.INT2,
  pg.types.builtins.INT4,
  pg.types.builtins.INT8,
  pg.types.builtins.OID,
  pg.types.builtins.NUMERIC,
  pg.types.builtins.FLOAT4,
  pg.types.builtins.FLOAT8,
]);

const TYPE_NAMES = new Map<number, string>(
  Object.entries(pg.types.builtins).map(([name, oid]) => [oid as number, name.toLowerCase()]),
);

function column(field: pg.FieldDef): SqlColumn {
  return {
    name: field.name,
    typeName: TYPE_NAMES.get(field.dataTypeID) ?? `type ${field.dataTypeID}`,
    numeric: NUMERIC_OIDS.has(field.dataTypeID),
  };
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
    const dsn = resolveDsn(config, ctx.address);
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
        let result: pg.QueryResult<unknown[]>;
        try {
          // The extended protocol makes the server refuse a second statement outright.
          const query: pg.QueryArrayConfig & { queryMode: 'extended' } = {
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
  },
};
