/**
 * A stable text key for a row's content. Bus tables have set semantics (SpacetimeDB refuses a duplicate
 * row), so the whole row identifies it. Keys are sorted; a bigint and a number of the same integer
 * value give the same key, because msgpack may deliver either for a 64-bit column.
 */
export function rowKey(row: Record<string, unknown>): string {
  return keyOf(row);
}

function keyOf(value: unknown): string {
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
      if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`;
      if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${keyOf(record[key])}`).join(',')}}`;
    }
    default:
      return String(value);
  }
}
