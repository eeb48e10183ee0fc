/**
 * A host-neutral description of every table (columns, key, unique and btree indexes, auto-increment,
 * access, schedule column), derived at runtime from the same `table()` objects SpacetimeDB registers.
 * The embedded host builds its SQLite schema from this; a test compares it with the module definition
 * SpacetimeDB's `buildRawModuleDefV10` produces, so the two hosts cannot drift apart.
 */
import { type Tables, tables } from './tables.ts';

/** SpacetimeDB's algebraic type, as data: `{ tag: 'U64' }`, `{ tag: 'Product', value: { elements } }`, ... */
export interface AlgebraicType {
  tag: string;
  value?: unknown;
}

export interface ColumnDescription {
  name: string;
  type: AlgebraicType;
  /**
   * The value declared with `.default(value)`, in the reducer-facing form; absent when the column
   * declares none. SpacetimeDB fills it into existing rows when a publish adds the column; the
   * embedded host does the same when it upgrades an older database (docs/bus.md, "Schema changes").
   */
  defaultValue?: unknown;
}

export interface IndexDescription {
  /** The accessor name: `ctx.db.<table>.<accessor>`. */
  accessor: string;
  columns: string[];
  unique: boolean;
}

export interface TableDescription {
  name: string;
  columns: ColumnDescription[];
  primaryKey: string[];
  indexes: IndexDescription[];
  autoIncrement: string[];
  isPublic: boolean;
  /** The `scheduleAt` column of a schedule table. */
  scheduleAtColumn: string | undefined;
}

interface RawTableDefinition {
  primaryKey: number[];
  indexes: { accessorName?: string; algorithm: { tag: string; value: number | number[] } }[];
  constraints: { data: { tag: string; value: { columns: number[] } } }[];
  sequences: { column: number }[];
  tableAccess: { tag: string };
}

interface TableObject {
  rowType: {
    algebraicType: { value: { elements: { name: string; algebraicType: AlgebraicType }[] } };
    row?: Record<string, { columnMetadata?: Record<string, unknown> }>;
  };
  scheduleAtCol?: number;
  tableDef(context: unknown, accessorName: string): RawTableDefinition;
}

/** Only what `tableDef` touches: it registers the row type and may add explicit index names. */
const registrationContext = {
  moduleDef: { explicitNames: { entries: [] as unknown[] } },
  registerTypesRecursively: () => ({ ref: 0 }),
};

function describe(name: string, table: TableObject): TableDescription {
  const columns = table.rowType.algebraicType.value.elements.map((element): ColumnDescription => {
    const metadata = table.rowType.row?.[element.name]?.columnMetadata;
    // `hasOwn`, as SpacetimeDB checks it: 0, false and '' are defaults too.
    if (metadata === undefined || !Object.hasOwn(metadata, 'defaultValue')) {
      return { name: element.name, type: element.algebraicType };
    }
    return { name: element.name, type: element.algebraicType, defaultValue: metadata.defaultValue };
  });
  const columnName = (id: number): string => {
    const column = columns[id];
    if (column === undefined) throw new Error(`Table ${name} refers to column ${id}, which it does not have`);
    return column.name;
  };
  const definition = table.tableDef(registrationContext, name);
  const uniqueSets = definition.constraints
    .filter((constraint) => constraint.data.tag === 'Unique')
    .map((constraint) => constraint.data.value.columns.join(','));
  const indexes = definition.indexes.map((index) => {
    const ids = Array.isArray(index.algorithm.value) ? index.algorithm.value : [index.algorithm.value];
    return {
      accessor: index.accessorName ?? ids.map(columnName).join('_'),
      columns: ids.map(columnName),
      unique: uniqueSets.includes(ids.join(',')),
    };
  });
  return {
    name,
    columns,
    primaryKey: definition.primaryKey.map(columnName),
    indexes,
    autoIncrement: definition.sequences.map((sequence) => columnName(sequence.column)),
    isPublic: definition.tableAccess.tag === 'Public',
    scheduleAtColumn: table.scheduleAtCol === undefined ? undefined : columnName(table.scheduleAtCol),
  };
}

let cached: TableDescription[] | undefined;

/** Every table of the module, in registration order. */
export function describeTables(): TableDescription[] {
  cached ??= Object.entries(tables as Tables).map(([name, table]) => describe(name, table as unknown as TableObject));
  return cached;
}
