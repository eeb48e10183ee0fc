import { busTablePrimaryKeys } from '@clawfleet/db-module';
import type { BusRow } from '../bus-client.ts';

/** What identifies a row within its table in the client cache. */
export type RowKey = string | number | bigint;
export type RowKeyFunction = (row: BusRow) => RowKey;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** A 64-bit value may arrive as a bigint or a number (msgpack picks); both must give one key. */
function keyPart(value: unknown): RowKey {
  if (typeof value === 'bigint') return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  if (typeof value === 'number' || typeof value === 'string') return value;
  return contentKey(value);
}

const keyFunctions = new Map<string, RowKeyFunction>();

/**
 * The key function of a table: its primary key (one column: the value itself, no string built), or
 * for a table the schema does not know, the whole row (tables have set semantics).
 */
export function rowKeyFunction(table: string): RowKeyFunction {
  let keyOf = keyFunctions.get(table);
  if (keyOf !== undefined) return keyOf;
  const columns = (busTablePrimaryKeys as Readonly<Record<string, readonly string[]>>)[table];
  if (columns === undefined || columns.length === 0) {
    keyOf = contentKey;
  } else if (columns.length === 1) {
    const column = columns[0]!;
    keyOf = (row) => keyPart(row[column]);
  } else {
    keyOf = (row) => columns.map((column) => contentKey(keyPart(row[column]))).join('\u0000');
  }
  keyFunctions.set(table, keyOf);
  return keyOf;
}

/** A stable text key for a value; a bigint and a number of the same integer value give the same key. */
export function contentKey(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
    case 'bigint':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(contentKey).join(',')}]`;
      if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${contentKey(record[key])}`).join(',')}}`;
    }
    default:
      return String(value);
  }
}
