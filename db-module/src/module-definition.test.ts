import { beforeAll, describe, expect, it } from 'vitest';
import { bundleModule } from '../scripts/bundle.ts';
import { loadModuleDefinition, type RawModuleDefinition, section } from '../scripts/module-definition.ts';
import { reducerCatalog, scheduleCatalog, viewCatalog } from './reducer-catalog.ts';
import { describeTables } from './table-description.ts';

interface RawTable {
  sourceName: string;
  productTypeRef: number;
  primaryKey: number[];
  indexes: { accessorName: string; algorithm: { tag: string; value: number[] } }[];
  constraints: { data: { tag: string; value: { columns: number[] } } }[];
  sequences: { column: number }[];
  tableAccess: { tag: string };
}
interface RawProduct {
  tag: 'Product';
  value: { elements: { name: string; algebraicType: unknown }[] };
}

let definition: RawModuleDefinition;
beforeAll(async () => {
  definition = await loadModuleDefinition();
});

describe('the SpacetimeDB module definition', () => {
  it('registers every table with the columns, keys, indexes and access the embedded host uses', () => {
    const rawTables = section<RawTable[]>(definition, 'Tables');
    const types = section<{ types: RawProduct[] }>(definition, 'Typespace').types;
    const hostTables = describeTables();
    expect(rawTables.map((table) => table.sourceName).sort()).toEqual(hostTables.map((table) => table.name).sort());
    for (const host of hostTables) {
      const raw = rawTables.find((table) => table.sourceName === host.name)!;
      const rowType = types[raw.productTypeRef]!;
      const columnNames = rowType.value.elements.map((element) => element.name);
      const name = (id: number) => columnNames[id];
      expect(rowType.value.elements.map((element) => ({ name: element.name, type: element.algebraicType }))).toEqual(
        host.columns.map((column) => ({ name: column.name, type: column.type })),
      );
      expect(raw.primaryKey.map(name)).toEqual(host.primaryKey);
      expect(raw.sequences.map((sequence) => name(sequence.column))).toEqual(host.autoIncrement);
      expect(raw.tableAccess.tag).toBe(host.isPublic ? 'Public' : 'Private');
      const rawIndexes = raw.indexes.map((index) => ({
        accessor: index.accessorName,
        columns: index.algorithm.value.map(name),
        unique: raw.constraints.some(
          (constraint) => constraint.data.value.columns.join() === index.algorithm.value.join(),
        ),
      }));
      expect(rawIndexes).toEqual(host.indexes);
    }
  });

  it('registers every reducer of the catalog, lifecycle hooks and schedules included', () => {
    const reducers = section<{ sourceName: string }[]>(definition, 'Reducers').map((reducer) => reducer.sourceName);
    expect(reducers.sort()).toEqual(Object.keys(reducerCatalog).sort());
    const lifecycle = section<{ lifecycleSpec: { tag: string }; functionName: string }[]>(
      definition,
      'LifeCycleReducers',
    );
    expect(Object.fromEntries(lifecycle.map((entry) => [entry.lifecycleSpec.tag, entry.functionName]))).toEqual({
      Init: 'init',
      OnConnect: 'client_connected',
      OnDisconnect: 'client_disconnected',
    });
    const schedules = section<{ tableName: string; functionName: string }[]>(definition, 'Schedules');
    expect(Object.fromEntries(schedules.map((entry) => [entry.tableName, entry.functionName]))).toEqual(
      scheduleCatalog,
    );
  });

  it('registers the views that expose private rows to the callers allowed to see them', () => {
    const views = section<{ sourceName: string; isPublic: boolean }[]>(definition, 'Views');
    expect(views.map((view) => view.sourceName).sort()).toEqual(Object.keys(viewCatalog).sort());
    expect(views.every((view) => view.isPublic)).toBe(true);
  });

  it('bundles into one ES module whose only imports are the SpacetimeDB host syscalls', async () => {
    const text = await bundleModule();
    const imports = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(new Set(imports)).toEqual(new Set(['spacetime:sys@2.0', 'spacetime:sys@2.1']));
    expect(text).not.toMatch(/\busing\s+\w+\s*=/);
  });
});
