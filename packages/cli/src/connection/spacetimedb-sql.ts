import { ADMIN_SQL_MAX_ROWS, type AdminSqlResult, ClawError, checkReadOnlySql } from '@clawfleet/protocol';
import { z } from 'zod';

/** Where `claw --server` sends SQL: SpacetimeDB's `POST /v1/database/<name>/sql`. */
export interface SpacetimeDbSqlTarget {
  /** The server, `http(s)://` or `ws(s)://`. */
  server: string;
  database: string;
  /** The token of an admin identity (the module owner's, or one added with `add_admin`). */
  token: string;
}

/**
 * One statement's result as SpacetimeDB's SQL endpoint answers it (`SqlStmtResult`: the result's
 * product type, the rows as arrays of SATS-JSON values, timings). Only what is read is checked.
 */
const statementSchema = z.object({
  schema: z.object({ elements: z.array(z.object({ name: z.unknown(), algebraic_type: z.unknown() })) }),
  rows: z.array(z.array(z.unknown())),
});
const responseSchema = z.array(statementSchema);

/**
 * One read-only SELECT on a SpacetimeDB database over its SQL endpoint. The statement is checked
 * here first with the rules the embedded path uses (`checkReadOnlySql`; SpacetimeDB's SQL has no
 * WITH), so anything that writes is refused before a byte is sent: an owner's token could write.
 */
export async function spacetimeDbSql(
  target: SpacetimeDbSqlTarget,
  sql: string,
  maxRows: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<AdminSqlResult> {
  checkReadOnlySql(sql, ['SELECT']);
  const { status, text } = await spacetimeDbRequest(
    target,
    'POST',
    `v1/database/${encodeURIComponent(target.database)}/sql`,
    sql,
    options,
  );
  const said = firstLine(text);
  if (status === 400) throw new ClawError('INVALID_PARAMS', `SQL error: ${said || 'the server refused the query'}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ClawError('INVALID_RESPONSE', `SpacetimeDB's SQL answer is not JSON: ${said}`);
  }
  const parsed = responseSchema.safeParse(body);
  if (!parsed.success || parsed.data.length !== 1) {
    throw new ClawError('INVALID_RESPONSE', "SpacetimeDB's SQL answer is not one statement's result (schema and rows)");
  }
  const [statement] = parsed.data as [z.infer<typeof statementSchema>];
  const limit = Math.min(maxRows, ADMIN_SQL_MAX_ROWS);
  const elements = statement.schema.elements;
  return {
    columns: elements.map((element, index) => columnName(element.name, index)),
    rows: statement.rows
      .slice(0, limit)
      .map((row) => row.map((value, index) => publicValue(value, elements[index]?.algebraic_type))),
    truncated: statement.rows.length > limit,
  };
}

/**
 * One HTTP request to SpacetimeDB as the token's identity. A refused token (401/403) is
 * AUTH_FAILED, an unknown database (404) NOT_FOUND with how to publish it, an unreachable server
 * CONNECT_FAILED; a 400 comes back to the caller, any other failure is DATABASE_ERROR.
 */
export async function spacetimeDbRequest(
  target: SpacetimeDbSqlTarget,
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ status: number; text: string }> {
  const url = new URL(path, httpBase(target.server));
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'text/plain; charset=utf-8' },
      ...(body === undefined ? {} : { body }),
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    });
  } catch (error) {
    if (options.signal?.aborted) throw new ClawError('CANCELLED', 'The request was cancelled', { cause: error });
    const code = (error as { cause?: { code?: string } }).cause?.code;
    throw new ClawError(
      'CONNECT_FAILED',
      `SpacetimeDB at ${url.origin} ${code === 'ECONNREFUSED' ? 'refused the connection (is it running? is --server right?)' : timeout.aborted ? 'did not answer in time' : `could not be reached (${code ?? (error as Error).message})`}`,
      { cause: error },
    );
  }
  const text = await response.text();
  const said = firstLine(text);
  if (response.status === 401 || response.status === 403) {
    throw new ClawError(
      'AUTH_FAILED',
      `SpacetimeDB at ${url.origin} refused the token (HTTP ${response.status}${said ? `: ${said}` : ''}): give the token of an admin of database \`${target.database}\` in SPACETIMEDB_TOKEN or SPACETIMEDB_TOKEN_FILE`,
    );
  }
  if (response.status === 404) {
    throw new ClawError(
      'NOT_FOUND',
      `SpacetimeDB at ${url.origin} has no database \`${target.database}\`: publish it (\`npm run db:publish -- --server ${target.server} --database ${target.database}\`) or correct --database`,
    );
  }
  if (!response.ok && response.status !== 400) {
    throw new ClawError('DATABASE_ERROR', `SpacetimeDB answered HTTP ${response.status}${said ? `: ${said}` : ''}`);
  }
  return { status: response.status, text };
}

/** The server's HTTP base for a `ws(s)://` or `http(s)://` URL (CONFIG_INVALID for anything else). */
export function httpBase(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `Expected \`--server\` to be an http(s) or ws(s) URL, got \`${server}\``, {
      cause: error,
    });
  }
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ClawError('CONFIG_INVALID', `Expected \`--server\` to be an http(s) or ws(s) URL, got \`${server}\``);
  }
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** A column's name: SATS names a product element `{ "some": name }` (or leaves it unnamed: `{ "none": [] }`). */
function columnName(name: unknown, index: number): string {
  if (typeof name === 'string') return name;
  if (isObject(name) && typeof name.some === 'string') return name.some;
  return `column ${index + 1}`;
}

/** The special products SpacetimeDB gives its own types (Identity, ConnectionId, Timestamp, TimeDuration). */
const SPECIAL_ELEMENTS = new Set([
  '__identity__',
  '__connection_id__',
  '__timestamp_micros_since_unix_epoch__',
  '__time_duration_micros__',
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ Product: { elements } }`'s element names, or undefined for any other type. */
function productElementNames(type: unknown): string[] | undefined {
  if (!isObject(type) || !isObject(type.Product) || !Array.isArray(type.Product.elements)) return undefined;
  return type.Product.elements.map((element, index) => columnName(isObject(element) ? element.name : undefined, index));
}

/** Whether a type is an option: a sum of `some` and `none`. */
function isOptionType(type: unknown): boolean {
  if (!isObject(type) || !isObject(type.Sum) || !Array.isArray(type.Sum.variants)) return false;
  const names = type.Sum.variants.map((variant, index) =>
    columnName(isObject(variant) ? variant.name : undefined, index),
  );
  return names.length === 2 && names[0] === 'some' && names[1] === 'none';
}

function someType(type: unknown): unknown {
  if (!isObject(type) || !isObject(type.Sum) || !Array.isArray(type.Sum.variants)) return undefined;
  const first = type.Sum.variants[0];
  return isObject(first) ? first.algebraic_type : undefined;
}

/** A 64-bit or larger integer as the bus shows it: a number within +-2^53, else its decimal string. */
function wideInteger(value: unknown): unknown {
  if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    const big = BigInt(value);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : value;
  }
  return value;
}

/** An identity or connection id as lowercase hex without `0x` (64 or 32 digits), whatever form it came in. */
function hexId(value: unknown, digits: number): unknown {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    return BigInt(value).toString(16).padStart(digits, '0');
  }
  if (typeof value === 'string') return value.replace(/^0x/i, '').toLowerCase();
  return value;
}

/** The single value inside a special product, in any of the forms SATS JSON may give it. */
function specialInner(value: unknown, name: string): unknown {
  if (Array.isArray(value) && value.length === 1) return value[0];
  if (isObject(value) && name in value) return value[name];
  return value;
}

/**
 * A SATS-JSON value as the bus clients show rows (docs/bus.md): identities as lowercase hex,
 * timestamps as microseconds, an absent option as null, 64-bit integers as numbers where exact.
 * Guided by the column's type where the answer gives one; unknown shapes pass through unchanged.
 */
export function publicValue(value: unknown, type: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isOptionType(type) || (type === undefined && isObject(value) && ('some' in value || 'none' in value))) {
    if (isObject(value) && 'some' in value) return publicValue(value.some, someType(type));
    if (isObject(value) && 'none' in value) return null;
  }
  const elements = productElementNames(type);
  if (elements?.length === 1 && SPECIAL_ELEMENTS.has(elements[0]!)) {
    const name = elements[0]!;
    const inner = specialInner(value, name);
    if (name === '__identity__') return hexId(inner, 64);
    if (name === '__connection_id__') return hexId(inner, 32);
    return wideInteger(inner);
  }
  if (elements !== undefined && Array.isArray(value)) {
    return Object.fromEntries(
      value.map((item, index) => [elements[index] ?? String(index), publicValue(item, undefined)]),
    );
  }
  if (isObject(type) && ('U64' in type || 'I64' in type || 'U128' in type || 'I128' in type)) return wideInteger(value);
  return value;
}
