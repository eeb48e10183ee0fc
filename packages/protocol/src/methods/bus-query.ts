import { ClawError, describeValue } from '../errors.ts';

/**
 * The subscription query language both bus hosts accept: the subset of SpacetimeDB's subscription SQL
 *
 *   SELECT * FROM table [WHERE column = literal [AND column = literal]...] [;]
 *
 * Keywords are case-insensitive; identifiers are case-sensitive. Literals: 'text' (with '' for a quote),
 * integers (bigint beyond +-2^53), decimals, true/false, and 0x-hex (identities; compared case-insensitively
 * with hex strings). Anything else is refused with SUBSCRIPTION_INVALID so a query never silently means
 * something other than what SpacetimeDB would do with it.
 */
export type BusQueryLiteral =
  | { kind: 'string'; value: string }
  | { kind: 'integer'; value: bigint }
  | { kind: 'decimal'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'hex'; value: string };

export interface BusQueryCondition {
  column: string;
  literal: BusQueryLiteral;
  /** The literal as written (a string literal without its quotes), which SpacetimeDB parses by the column's type. */
  text: string;
}

export interface ParsedBusQuery {
  /** The query text as given. */
  text: string;
  table: string;
  /** Conjunction of equalities; empty means every row. */
  where: BusQueryCondition[];
}

type Token =
  | { type: 'word'; text: string; position: number }
  | { type: 'star' | 'equals' | 'semicolon'; position: number }
  | { type: 'operator'; text: string; position: number }
  | { type: 'literal'; literal: BusQueryLiteral; text: string; position: number };

const MAX_QUERY_LENGTH = 4096;
const MAX_CONDITIONS = 32;

function invalid(query: string, reason: string, position?: number): ClawError {
  const where = position === undefined ? '' : ` at character ${position + 1}`;
  return new ClawError(
    'SUBSCRIPTION_INVALID',
    `Expected a query \`SELECT * FROM table [WHERE column = literal [AND ...]]\`: ${reason}${where}, in ${describeValue(query)}`,
    { details: position === undefined ? { query: query.slice(0, 200) } : { query: query.slice(0, 200), position } },
  );
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < query.length) {
    const character = query[index] as string;
    if (/\s/.test(character)) {
      index += 1;
    } else if (character === '*') {
      tokens.push({ type: 'star', position: index });
      index += 1;
    } else if (character === '=') {
      tokens.push({ type: 'equals', position: index });
      index += 1;
    } else if (/[<>!]/.test(character)) {
      const text = (/^[<>!=]+/.exec(query.slice(index)) as RegExpExecArray)[0];
      tokens.push({ type: 'operator', text, position: index });
      index += text.length;
    } else if (character === ';') {
      tokens.push({ type: 'semicolon', position: index });
      index += 1;
    } else if (character === "'") {
      const start = index;
      let value = '';
      index += 1;
      for (;;) {
        if (index >= query.length) throw invalid(query, 'unterminated string literal', start);
        const next = query[index] as string;
        if (next === "'") {
          if (query[index + 1] === "'") {
            value += "'";
            index += 2;
            continue;
          }
          index += 1;
          break;
        }
        value += next;
        index += 1;
      }
      tokens.push({ type: 'literal', literal: { kind: 'string', value }, text: value, position: start });
    } else if (/[0-9-]/.test(character)) {
      const match = /^(0x[0-9a-fA-F]+|-?[0-9]+(\.[0-9]+)?)(?![A-Za-z0-9_.])/.exec(query.slice(index));
      if (!match) throw invalid(query, 'malformed number', index);
      const text = match[1] as string;
      let literal: BusQueryLiteral;
      if (text.startsWith('0x')) literal = { kind: 'hex', value: text.slice(2).toLowerCase() };
      else if (match[2] !== undefined) literal = { kind: 'decimal', value: Number(text) };
      else literal = { kind: 'integer', value: BigInt(text) };
      tokens.push({ type: 'literal', literal, text: text.startsWith('0x') ? text.slice(2) : text, position: index });
      index += text.length;
    } else if (/[A-Za-z_]/.test(character)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(query.slice(index)) as RegExpExecArray;
      const text = match[0];
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === 'false') {
        tokens.push({
          type: 'literal',
          literal: { kind: 'boolean', value: lower === 'true' },
          text: lower,
          position: index,
        });
      } else {
        tokens.push({ type: 'word', text, position: index });
      }
      index += text.length;
    } else {
      throw invalid(query, `unexpected character \`${character}\``, index);
    }
  }
  return tokens;
}

/** Parses one query; throws ClawError SUBSCRIPTION_INVALID saying what is wrong and where. */
export function parseBusQuery(query: unknown): ParsedBusQuery {
  if (typeof query !== 'string') throw invalid(String(query), `expected a string, got ${describeValue(query)}`);
  if (query.length > MAX_QUERY_LENGTH) throw invalid(query, `longer than ${MAX_QUERY_LENGTH} characters`);
  const tokens = tokenize(query);
  let cursor = 0;
  const peek = (): Token | undefined => tokens[cursor];
  const end = query.length;
  const expectKeyword = (keyword: string): void => {
    const token = peek();
    if (token?.type !== 'word' || token.text.toUpperCase() !== keyword) {
      throw invalid(query, `expected \`${keyword}\``, token?.position ?? end);
    }
    cursor += 1;
  };
  const expectIdentifier = (what: string): string => {
    const token = peek();
    if (token?.type !== 'word' || isKeyword(token.text)) {
      throw invalid(query, `expected a ${what} name`, token?.position ?? end);
    }
    cursor += 1;
    return token.text;
  };

  expectKeyword('SELECT');
  const star = peek();
  if (star?.type !== 'star') throw invalid(query, 'only `SELECT *` is supported', star?.position ?? end);
  cursor += 1;
  expectKeyword('FROM');
  const table = expectIdentifier('table');
  const where: BusQueryCondition[] = [];
  const next = peek();
  if (next?.type === 'word' && next.text.toUpperCase() === 'WHERE') {
    cursor += 1;
    for (;;) {
      const column = expectIdentifier('column');
      const equals = peek();
      if (equals?.type !== 'equals')
        throw invalid(query, 'only `=` comparisons are supported', equals?.position ?? end);
      cursor += 1;
      const literal = peek();
      if (literal?.type !== 'literal') throw invalid(query, 'expected a literal', literal?.position ?? end);
      cursor += 1;
      where.push({ column, literal: literal.literal, text: literal.text });
      if (where.length > MAX_CONDITIONS) throw invalid(query, `more than ${MAX_CONDITIONS} conditions`);
      const connective = peek();
      if (connective?.type === 'word' && connective.text.toUpperCase() === 'AND') {
        cursor += 1;
        continue;
      }
      break;
    }
  }
  if (peek()?.type === 'semicolon') cursor += 1;
  const trailing = peek();
  if (trailing !== undefined) throw invalid(query, 'unexpected text after the query', trailing.position);
  return { text: query, table, where };
}

const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'JOIN', 'ON', 'AS', 'LIMIT', 'ORDER', 'BY']);

function isKeyword(word: string): boolean {
  return KEYWORDS.has(word.toUpperCase());
}

/** Whether a row value equals a query literal, under the row conventions of the bus (hex identities). */
export function busValueEquals(value: unknown, literal: BusQueryLiteral): boolean {
  switch (literal.kind) {
    case 'string':
      return value === literal.value;
    case 'boolean':
      return value === literal.value;
    case 'hex':
      return typeof value === 'string' && value.toLowerCase() === literal.value;
    case 'integer':
      if (typeof value === 'bigint') return value === literal.value;
      return typeof value === 'number' && Number.isInteger(value) && BigInt(value) === literal.value;
    case 'decimal':
      return (typeof value === 'number' || typeof value === 'bigint') && Number(value) === literal.value;
  }
}

/** Whether a row of `table` is selected by the query. */
export function busQueryMatches(query: ParsedBusQuery, table: string, row: Record<string, unknown>): boolean {
  if (query.table !== table) return false;
  for (const condition of query.where) {
    if (!busValueEquals(row[condition.column], condition.literal)) return false;
  }
  return true;
}

/** A column's type as SpacetimeDB describes it: `{ tag: 'U64' }`, `{ tag: 'Sum', value: { variants } }`, ... */
export interface BusColumnAlgebraicType {
  tag: string;
  value?: unknown;
}

/** A column a query may name: its name and SpacetimeDB algebraic type. */
export interface BusQueryColumn {
  name: string;
  type: BusColumnAlgebraicType;
}

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  U8: [0n, 2n ** 8n - 1n],
  U16: [0n, 2n ** 16n - 1n],
  U32: [0n, 2n ** 32n - 1n],
  U64: [0n, 2n ** 64n - 1n],
  U128: [0n, 2n ** 128n - 1n],
  U256: [0n, 2n ** 256n - 1n],
  I8: [-(2n ** 7n), 2n ** 7n - 1n],
  I16: [-(2n ** 15n), 2n ** 15n - 1n],
  I32: [-(2n ** 31n), 2n ** 31n - 1n],
  I64: [-(2n ** 63n), 2n ** 63n - 1n],
  I128: [-(2n ** 127n), 2n ** 127n - 1n],
  I256: [-(2n ** 255n), 2n ** 255n - 1n],
};

type ColumnKind =
  | { kind: 'bool' | 'string' | 'float' | 'identity' | 'connection-id' | 'timestamp' }
  | { kind: 'integer'; range: readonly [bigint, bigint] }
  | { kind: 'option' | 'other' };

interface NamedElement {
  name?: unknown;
  algebraicType: BusColumnAlgebraicType;
}

function elementName(element: NamedElement): string {
  const name = element.name as string | { value?: string } | undefined;
  return typeof name === 'string' ? name : (name?.value ?? '');
}

/** SpacetimeDB's special products (`Identity`, `Timestamp`, ...) are one-element products named `__x__`. */
function specialName(type: BusColumnAlgebraicType): string | undefined {
  if (type.tag !== 'Product') return undefined;
  const elements = (type.value as { elements?: NamedElement[] } | undefined)?.elements;
  return elements?.length === 1 ? elementName(elements[0] as NamedElement) : undefined;
}

function isOption(type: BusColumnAlgebraicType): boolean {
  if (type.tag !== 'Sum') return false;
  const variants = (type.value as { variants?: NamedElement[] } | undefined)?.variants ?? [];
  return variants.length === 2 && variants.some((variant) => elementName(variant) === 'some');
}

function columnKind(type: BusColumnAlgebraicType): ColumnKind {
  const range = INTEGER_RANGES[type.tag];
  if (range) return { kind: 'integer', range };
  if (type.tag === 'Bool') return { kind: 'bool' };
  if (type.tag === 'String') return { kind: 'string' };
  if (type.tag === 'F32' || type.tag === 'F64') return { kind: 'float' };
  const special = specialName(type);
  if (special === '__identity__') return { kind: 'identity' };
  if (special === '__connection_id__') return { kind: 'connection-id' };
  if (special === '__timestamp_micros_since_unix_epoch__') return { kind: 'timestamp' };
  if (isOption(type)) return { kind: 'option' };
  return { kind: 'other' };
}

/** A readable name of a column type for messages: `U8`, `Option<String>`, `Array<String>`, `Identity`. */
export function busColumnTypeName(type: BusColumnAlgebraicType): string {
  const special = specialName(type);
  if (special === '__identity__') return 'Identity';
  if (special === '__connection_id__') return 'ConnectionId';
  if (special === '__timestamp_micros_since_unix_epoch__') return 'Timestamp';
  if (special === '__time_duration_micros__') return 'TimeDuration';
  if (isOption(type)) {
    const some = ((type.value as { variants: NamedElement[] }).variants ?? []).find(
      (variant) => elementName(variant) === 'some',
    ) as NamedElement;
    return `Option<${busColumnTypeName(some.algebraicType)}>`;
  }
  if (type.tag === 'Array') return `Array<${busColumnTypeName(type.value as BusColumnAlgebraicType)}>`;
  return type.tag;
}

const RFC3339 =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/;

/** Microseconds since the epoch of an RFC 3339 timestamp (how SpacetimeDB reads a Timestamp literal), or undefined. */
function rfc3339Micros(text: string): bigint | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as number[];
  if (month! < 1 || month! > 12 || day! < 1 || day! > 31 || hour! > 23 || minute! > 59 || second! > 60)
    return undefined;
  const millis = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  if (new Date(millis).getUTCDate() !== day) return undefined;
  const fraction = BigInt(((match[7] ?? '') + '000000').slice(0, 6));
  const offsetMinutes = match[8] ? 0 : (match[9] === '-' ? -1 : 1) * (Number(match[10]) * 60 + Number(match[11]));
  return (BigInt(millis) - BigInt(offsetMinutes) * 60_000n) * 1000n + fraction;
}

/** The value of a decimal literal when it is an integer (`3`, `3.0`), as SpacetimeDB's BigDecimal parse sees it. */
function integerValue(condition: BusQueryCondition): bigint | undefined {
  const match = /^(-?[0-9]+)(?:\.([0-9]+))?$/.exec(condition.text.trim());
  if (!match || condition.literal.kind === 'hex' || condition.literal.kind === 'boolean') return undefined;
  if (match[2] !== undefined && /[1-9]/.test(match[2])) return undefined;
  return BigInt(match[1] as string);
}

/**
 * Checks a parsed query against its table's columns as SpacetimeDB's SQL type checker does, and
 * returns it with each literal converted to the column's type, so that matching compares like with
 * like. The rules (docs/bus.md, "Subscription SQL"): the column must exist; optional (`Option<T>`),
 * array, enum and product columns cannot be compared (SpacetimeDB refuses `=` on them); a literal must
 * parse as the column's type: `true`/`false` only for Bool, integers in range for integer columns
 * (quoted or not, `3.0` too), any literal for String (as written), RFC 3339 text for Timestamp, 64 hex
 * digits for Identity. Throws ClawError SUBSCRIPTION_INVALID naming the column and what to use instead.
 */
export function typeBusQuery(query: ParsedBusQuery, columns: readonly BusQueryColumn[]): ParsedBusQuery {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const refuse = (column: string, reason: string): ClawError =>
    new ClawError('SUBSCRIPTION_INVALID', `${reason}, in ${describeValue(query.text)}`, {
      details: { query: query.text.slice(0, 200), table: query.table, column },
    });
  const comparable = columns
    .filter((column) => !['option', 'other'].includes(columnKind(column.type).kind))
    .map((column) => `\`${column.name}\``);
  const typeCondition = (condition: BusQueryCondition): BusQueryCondition => {
    const column = byName.get(condition.column);
    if (!column) {
      throw refuse(
        condition.column,
        `Table \`${query.table}\` has no column \`${condition.column}\` (its columns: ${columns.map((candidate) => candidate.name).join(', ')})`,
      );
    }
    const kind = columnKind(column.type);
    const typeName = busColumnTypeName(column.type);
    const badLiteral = (expected: string): ClawError =>
      refuse(
        condition.column,
        `Column \`${query.table}.${condition.column}\` is ${typeName}: expected ${expected}, got \`${condition.text}\``,
      );
    const { literal } = condition;
    switch (kind.kind) {
      case 'option':
        throw refuse(
          condition.column,
          `Column \`${query.table}.${condition.column}\` is optional (${typeName}), and SpacetimeDB cannot compare optional columns in a subscription, so neither bus host accepts \`${condition.column} = ...\`. Leave this condition out (filter on a required column instead: ${comparable.join(', ')}) and check \`row.${condition.column}\` in your callbacks`,
        );
      case 'other':
        throw refuse(
          condition.column,
          `Column \`${query.table}.${condition.column}\` is ${typeName}, which SpacetimeDB cannot compare in a subscription. Leave this condition out (filter on ${comparable.join(', ')}) and check \`row.${condition.column}\` in your callbacks`,
        );
      case 'bool':
        if (literal.kind !== 'boolean') throw badLiteral('`true` or `false`');
        return condition;
      case 'string':
        if (literal.kind === 'boolean') throw badLiteral("a text literal such as `'queued'`");
        return { ...condition, literal: { kind: 'string', value: condition.text } };
      case 'integer': {
        const value = literal.kind === 'boolean' ? undefined : integerValue(condition);
        if (value === undefined || value < kind.range[0] || value > kind.range[1]) {
          throw badLiteral(`an integer ${kind.range[0]}-${kind.range[1]}`);
        }
        return { ...condition, literal: { kind: 'integer', value } };
      }
      case 'float': {
        const value = Number(condition.text);
        if (
          literal.kind === 'boolean' ||
          literal.kind === 'hex' ||
          !Number.isFinite(value) ||
          !/^-?[0-9]/.test(condition.text)
        ) {
          throw badLiteral('a number');
        }
        return { ...condition, literal: { kind: 'decimal', value } };
      }
      case 'identity':
      case 'connection-id': {
        const digits = kind.kind === 'identity' ? 64 : 32;
        if (literal.kind === 'boolean' || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(condition.text)) {
          throw badLiteral(`${digits} hex digits (\`0x...\` or \`'...'\`)`);
        }
        return { ...condition, literal: { kind: 'hex', value: condition.text.toLowerCase() } };
      }
      case 'timestamp': {
        const micros = literal.kind === 'string' ? rfc3339Micros(condition.text) : undefined;
        if (micros === undefined) throw badLiteral("an RFC 3339 timestamp such as `'2026-01-31T12:00:00Z'`");
        return { ...condition, literal: { kind: 'integer', value: micros } };
      }
    }
  };
  return { ...query, where: query.where.map(typeCondition) };
}
