/**
 * The MySQL / MariaDB dialect of the SQL trigger. mysql2 is loaded when a mysql trigger is
 * created, not imported here: most configs have none, and loading it costs every run of
 * waymond about 17 MiB (startup memory).
 */
import type { FieldPacket, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { SqlColumn } from './query.js';
import { NoResultSet, SHARED_POOL_SIZE, type SqlDialect, sqlTrigger } from './trigger.js';

/** Column types whose values mysql2 may hand back as strings that are still numbers (DECIMAL). */
const NUMERIC_TYPES = new Set([0, 1, 2, 3, 4, 5, 8, 9, 13, 246]);

const TYPE_NAMES: Record<number, string> = {
  0: 'decimal',
  1: 'tinyint',
  2: 'smallint',
  3: 'int',
  4: 'float',
  5: 'double',
  7: 'timestamp',
  8: 'bigint',
  9: 'mediumint',
  10: 'date',
  11: 'time',
  12: 'datetime',
  13: 'year',
  15: 'text',
  16: 'bit',
  245: 'json',
  246: 'decimal',
  247: 'enum',
  248: 'set',
  252: 'text',
  253: 'text',
  254: 'text',
};

function column(field: FieldPacket): SqlColumn {
  const type = field.columnType ?? field.type ?? -1;
  return { name: field.name, typeName: TYPE_NAMES[type] ?? `type ${type}`, numeric: NUMERIC_TYPES.has(type) };
}

/** A connection error means the connection is gone or busy with a timed-out query: do not reuse it. */
function isFatal(error: unknown): boolean {
  const e = error as { fatal?: boolean; code?: string };
  return e.fatal === true || e.code === 'PROTOCOL_SEQUENCE_TIMEOUT';
}

export const mysqlDialect: SqlDialect = {
  name: 'mysql',
  summary: 'Polls a MySQL or MariaDB query that returns one number (e.g. pending jobs in a table).',
  example: `[[trigger]]
type = "mysql"
id = "pending_jobs"
dsn_env = "JOBS_MYSQL_URL"
query = "SELECT count(*) FROM jobs WHERE state = 'pending'"
interval = "15s"
statement_timeout = "5s"`,
  async openPool(config, _ctx, dsn) {
    const { default: mysql2 } = await import('mysql2/promise');
    // A pool shared by the triggers on this server (one alone uses one connection),
    // reconnected by the pool when the server went away.
    const pool = mysql2.createPool({
      uri: dsn,
      connectionLimit: SHARED_POOL_SIZE,
      maxIdle: SHARED_POOL_SIZE,
      multipleStatements: false,
      connectTimeout: config.timeout,
      enableKeepAlive: true,
    });
    // Connections already told the server-side time limit (a WeakSet, so dropped ones go).
    const prepared = new WeakSet<object>();

    // MariaDB calls it max_statement_time (seconds), MySQL max_execution_time (ms, SELECT only).
    const limitStatementTime = async (conn: PoolConnection): Promise<void> => {
      try {
        await conn.query('SET SESSION max_statement_time = ?', [config.statement_timeout / 1000]);
      } catch {
        await conn.query('SET SESSION max_execution_time = ?', [config.statement_timeout]);
      }
    };

    return {
      async query(sql) {
        let conn: PoolConnection | undefined;
        let rows: unknown[][];
        let fields: FieldPacket[] | undefined;
        try {
          conn = await pool.getConnection();
          if (!prepared.has(conn.connection)) {
            await limitStatementTime(conn);
            prepared.add(conn.connection);
          }
          // mysql2's own timeout is the backstop for a server that stops answering.
          const result = await conn.query<RowDataPacket[][]>({
            sql,
            rowsAsArray: true,
            timeout: config.statement_timeout + 1000,
          });
          rows = result[0];
          fields = result[1];
          conn.release();
        } catch (error) {
          if (conn && isFatal(error)) conn.destroy();
          else conn?.release();
          throw error;
        }
        if (!Array.isArray(fields)) throw new NoResultSet('query returned no result set (is it a SELECT?)');
        return { rows, columns: fields.map(column) };
      },
      close: () => pool.end(),
    };
  },
};

export const mysql = sqlTrigger(mysqlDialect);
