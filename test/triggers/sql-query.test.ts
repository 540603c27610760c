import { describe, expect, it } from 'vitest';
import { hasSecondStatement, redactDsn, type SqlColumn, singleNumber } from '../../src/triggers/sql/query.js';

describe('hasSecondStatement', () => {
  it.each<[string, string, 'postgres' | 'mysql', boolean]>([
    ['a single statement', 'SELECT count(*) FROM jobs', 'postgres', false],
    ['";" inside a single-quoted string', "SELECT count(*) FROM t WHERE s = 'a;b'", 'postgres', false],
    ['an escaped quote before ";"', "SELECT count(*) FROM t WHERE s = 'it''s; fine'", 'postgres', false],
    ['a backslash-escaped quote (MySQL)', "SELECT count(*) FROM t WHERE s = 'a\\';b'", 'mysql', false],
    ['";" inside a double-quoted identifier', 'SELECT count(*) FROM "odd;name"', 'postgres', false],
    ['";" inside backticks', 'SELECT count(*) FROM `odd;name`', 'mysql', false],
    ['";" in a -- comment', 'SELECT 1 -- one; two\n', 'postgres', false],
    ['";" in a /* */ comment', 'SELECT /* a; b */ 1', 'mysql', false],
    ['";" in dollar quoting', 'SELECT $body$a;b$body$', 'postgres', false],
    ['two statements', 'SELECT 1; SELECT 2', 'mysql', true],
    ['a statement after a comment', 'SELECT 1; -- x\nDELETE FROM jobs', 'postgres', true],
    ['a second statement after a quoted ";"', "SELECT ';'; DROP TABLE jobs", 'mysql', true],
    [
      'a backslash in a PostgreSQL string is no escape',
      "SELECT 1 FROM t WHERE p = 'C:\\' ; SELECT 2",
      'postgres',
      true,
    ],
    ["...but it is in an E'' string", "SELECT 1 FROM t WHERE p = E'a\\';b'", 'postgres', false],
    ['"#" is an operator in PostgreSQL, not a comment', 'SELECT 5 # 3; SELECT 2', 'postgres', true],
    ['"#" starts a comment in MySQL', 'SELECT 1 # one; two', 'mysql', false],
    ['"$" is no quote in MySQL', 'SELECT 1 AS $a$; SELECT 2 AS $a$', 'mysql', true],
  ])('%s (%s)', (_name, sql, dialect, expected) => {
    expect(hasSecondStatement(sql, dialect)).toBe(expected);
  });
});

describe('singleNumber', () => {
  const bigint: SqlColumn = { name: 'count', typeName: 'int8', numeric: true };
  const text: SqlColumn = { name: 'name', typeName: 'text', numeric: false };

  it.each([
    ['a number', [[3]], [bigint], 3],
    ['a bigint as a numeric string', [['42']], [bigint], 42],
    ['a numeric with decimals', [['2.50']], [bigint], 2.5],
    ['a JS bigint', [[7n]], [bigint], 7],
  ])('accepts %s', (_name, rows, columns, expected) => {
    expect(singleNumber(rows as unknown[][], columns)).toBe(expected);
  });

  it.each([
    ['no rows', [], [bigint], 'query returned no rows, expected exactly one'],
    ['three rows', [[1], [2], [3]], [bigint], 'query returned 3 rows, expected exactly one'],
    ['two columns', [[1, 2]], [bigint, text], 'query returned 2 columns ("count", "name"), expected exactly one'],
    [
      'NULL',
      [[null]],
      [bigint],
      'column "count" is NULL, expected a number (wrap it in COALESCE(…, 0) if no rows means zero)',
    ],
    ['text', [['abc']], [text], `column "name" is text 'abc', expected a number; cast it to a number in the query`],
    [
      'a number in a text column',
      [['12']],
      [text],
      `column "name" is text '12', expected a number; cast it to a number in the query`,
    ],
    ['a boolean', [[true]], [{ name: 'b', typeName: 'bool', numeric: false }], 'column "b" is bool true'],
    ['a garbled numeric string', [['1e']], [bigint], `column "count" is int8 '1e', expected a number`],
    ['an unsafe bigint', [[2n ** 60n]], [bigint], 'too large to be exact'],
  ])('refuses %s, saying what came back', (_name, rows, columns, message) => {
    expect(() => singleNumber(rows as unknown[][], columns)).toThrow(message);
  });
});

describe('redactDsn', () => {
  it('removes the DSN and its password, also URL-encoded', () => {
    const dsn = 'postgres://app:p%40ss@db:5432/x';
    expect(redactDsn(`could not connect to ${dsn}`, dsn)).toBe('could not connect to <dsn>');
    expect(redactDsn('auth failed for p@ss and p%40ss', dsn)).toBe('auth failed for *** and ***');
  });

  it('handles key/value DSNs', () => {
    expect(redactDsn('bad password hunter2', 'host=db password=hunter2 dbname=x')).toBe('bad password ***');
  });
});
