/**
 * Renders src/generated/client-types.ts: the row and reducer-argument types as bus clients see them,
 * derived from the same table and reducer definitions both hosts run. Types are written out as plain
 * TypeScript (not computed from `spacetimedb`'s builder types) because packages compiled with NodeNext
 * resolution cannot read the `spacetimedb` typings. `client-types.test.ts` fails when the file drifts.
 */
import { reducerCatalog, viewCatalog } from '../src/reducer-catalog.ts';
import { type AlgebraicType, describeTables } from '../src/table-description.ts';

interface Named {
  name: string;
  algebraicType: AlgebraicType;
}

/** Rows come from the host (`output`); arguments go to it (`input`): options may be left out there. */
type Direction = 'output' | 'input';

const NARROW_INTEGERS = new Set(['U8', 'U16', 'U32', 'I8', 'I16', 'I32', 'F32', 'F64']);
const WIDE_INTEGERS = new Set(['U64', 'I64']);

function typeOf(type: AlgebraicType, direction: Direction): string {
  if (NARROW_INTEGERS.has(type.tag)) return 'number';
  if (WIDE_INTEGERS.has(type.tag)) return 'WideInteger';
  switch (type.tag) {
    case 'Bool':
      return 'boolean';
    case 'String':
      return 'string';
    case 'Array': {
      const element = typeOf(type.value as AlgebraicType, direction);
      return `readonly ${element.includes(' | ') ? `(${element})` : element}[]`;
    }
    case 'Product': {
      const elements = (type.value as { elements: Named[] }).elements;
      const only = elements.length === 1 ? elements[0]?.name : undefined;
      if (only === '__identity__') return 'IdentityHex';
      if (only === '__timestamp_micros_since_unix_epoch__') return 'TimestampMicros';
      if (only === '__time_duration_micros__') return 'DurationMicros';
      const readonly = direction === 'output' ? 'readonly ' : '';
      return `{ ${elements.map((element) => `${readonly}${element.name}: ${typeOf(element.algebraicType, direction)}`).join('; ')} }`;
    }
    case 'Sum': {
      const variants = (type.value as { variants: Named[] }).variants;
      const names = variants.map((variant) => variant.name).join(',');
      if (names === 'some,none') return `${typeOf(variants[0]!.algebraicType, direction)} | null`;
      if (names === 'Interval,Time') return 'ScheduleAtValue';
      break;
    }
  }
  throw new Error(`No client type for the algebraic type ${JSON.stringify(type)}`);
}

function isOption(type: AlgebraicType): boolean {
  if (type.tag !== 'Sum') return false;
  const variants = (type.value as { variants: Named[] }).variants;
  return variants.map((variant) => variant.name).join(',') === 'some,none';
}

function objectType(fields: readonly Named[], direction: Direction, indent: string): string {
  if (fields.length === 0) return 'Record<string, never>';
  const lines = fields.map((field) => {
    const optional = direction === 'input' && isOption(field.algebraicType) ? '?' : '';
    const readonly = direction === 'output' ? 'readonly ' : '';
    return `${indent}  ${readonly}${field.name}${optional}: ${typeOf(field.algebraicType, direction)};`;
  });
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function paramType(builder: unknown): AlgebraicType {
  const candidate = builder as { algebraicType?: AlgebraicType; typeBuilder?: { algebraicType: AlgebraicType } };
  const type = candidate.typeBuilder?.algebraicType ?? candidate.algebraicType;
  if (type === undefined) throw new Error('A reducer parameter has no algebraic type');
  return type;
}

export function renderClientTypes(): string {
  const tables = describeTables();
  const rowFields = new Map(
    tables.map((table) => [
      table.name,
      table.columns.map((column) => ({ name: column.name, algebraicType: column.type })),
    ]),
  );
  const subscribable: [string, string][] = [];
  for (const table of tables) subscribable.push([table.name, table.name]);
  for (const [view, table] of Object.entries(viewCatalog)) subscribable.push([view, table]);

  const rows = subscribable.map(([name, source]) => {
    const isPublic = tables.find((table) => table.name === source)?.isPublic ?? true;
    const doc =
      name !== source
        ? `  /** The rows of \`${source}\` this client may see. */\n`
        : isPublic
          ? ''
          : `  /** Private: only an admin may subscribe (others get SUBSCRIPTION_INVALID and read a view). */\n`;
    return `${doc}  ${name}: ${objectType(rowFields.get(source)!, 'output', '  ')};`;
  });
  const keys = tables
    .filter((table) => subscribable.some(([, source]) => source === table.name))
    .flatMap((table) => {
      const names = subscribable.filter(([, source]) => source === table.name).map(([name]) => name);
      return names.map((name) => `  ${name}: [${table.primaryKey.map((column) => `'${column}'`).join(', ')}],`);
    });
  const clientEntries = Object.entries(reducerCatalog).filter(([, definition]) => definition.kind === 'client');
  const clientReducers = clientEntries.map(([name]) => name);
  const reducers = clientEntries.map(([name, definition]) => {
    const params = Object.entries(definition.params as Record<string, unknown>).map(([param, builder]) => ({
      name: param,
      algebraicType: paramType(builder),
    }));
    return `  ${name}: ${objectType(params, 'input', '  ')};`;
  });

  return `// Generated by \`npm run db:generate\` from src/tables.ts and src/reducer-catalog.ts. Do not edit:
// src/generated/client-types.test.ts fails when this file and the definitions disagree.

/** A 64-bit integer: a number within +-2^53, a bigint beyond (arguments accept either). */
export type WideInteger = number | bigint;
/** An identity as 64 lowercase hex digits. */
export type IdentityHex = string;
/** Microseconds since the Unix epoch. */
export type TimestampMicros = WideInteger;
export type DurationMicros = WideInteger;
export interface ScheduleAtValue {
  readonly tag: 'Time' | 'Interval';
  readonly micros: WideInteger;
}

/** Every table and view, with its rows as clients see them. Private tables are for admins only. */
export interface BusTables {
${rows.join('\n')}
}

/** The primary key columns of each subscribable table: what identifies a row in the client cache. */
export const busTablePrimaryKeys: { readonly [Table in keyof BusTables]: readonly (keyof BusTables[Table])[] } = {
${keys.join('\n')}
};

/** The arguments of every reducer a client may call; an option argument may be left out. */
export interface ReducerArguments {
${reducers.join('\n')}
}

/** Every reducer a client may call, in catalog order. */
export const busReducerNames = [
${clientReducers.map((name) => `  '${name}',`).join('\n')}
] as const satisfies readonly (keyof ReducerArguments)[];
`;
}
