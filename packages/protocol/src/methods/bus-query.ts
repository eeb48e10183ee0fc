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
  | { type: 'literal'; literal: BusQueryLiteral; position: number };

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
      tokens.push({ type: 'literal', literal: { kind: 'string', value }, position: start });
    } else if (/[0-9-]/.test(character)) {
      const match = /^(0x[0-9a-fA-F]+|-?[0-9]+(\.[0-9]+)?)(?![A-Za-z0-9_.])/.exec(query.slice(index));
      if (!match) throw invalid(query, 'malformed number', index);
      const text = match[1] as string;
      let literal: BusQueryLiteral;
      if (text.startsWith('0x')) literal = { kind: 'hex', value: text.slice(2).toLowerCase() };
      else if (match[2] !== undefined) literal = { kind: 'decimal', value: Number(text) };
      else literal = { kind: 'integer', value: BigInt(text) };
      tokens.push({ type: 'literal', literal, position: index });
      index += text.length;
    } else if (/[A-Za-z_]/.test(character)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(query.slice(index)) as RegExpExecArray;
      const text = match[0];
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === 'false') {
        tokens.push({ type: 'literal', literal: { kind: 'boolean', value: lower === 'true' }, position: index });
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
      where.push({ column, literal: literal.literal });
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
