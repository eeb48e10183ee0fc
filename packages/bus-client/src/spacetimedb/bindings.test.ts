import { reducerCatalog, tables, viewCatalog } from '@clawfleet/db-module';
import { describe, expect, it } from 'vitest';
import { REMOTE_MODULE } from './bindings/index.ts';

interface RemoteShape {
  versionInfo: { cliVersion: string };
  tables: Record<string, { sourceName: string; rowType: { elements: { name: string }[] } }>;
  reducers: { name: string; paramsType: { elements: { name: string }[] } }[];
}
const remote = REMOTE_MODULE as unknown as RemoteShape;

describe('SpacetimeDB bindings', () => {
  it('declare a CLI version the SDK accepts (>= 1.4.0)', () => {
    const [major = 0, minor = 0] = remote.versionInfo.cliVersion.split('.').map(Number);
    expect(major > 1 || (major === 1 && minor >= 4)).toBe(true);
  });

  it('list every module table and view with its columns', () => {
    const byName = new Map(Object.values(remote.tables).map((table) => [table.sourceName, table]));
    for (const name of Object.keys(tables)) expect(byName.has(name), name).toBe(true);
    for (const [view, source] of Object.entries(viewCatalog)) {
      const columns = (table: string) => byName.get(table)?.rowType.elements.map((element) => element.name);
      expect(columns(view), view).toEqual(columns(source));
    }
    const task = byName.get('task')?.rowType.elements.map((element) => element.name);
    expect(task).toContain('owner');
    expect(task).toContain('lease_expires_at');
  });

  it('list exactly the client-callable reducers with their parameter names', () => {
    const clientReducers = Object.entries(reducerCatalog).filter(([, definition]) => definition.kind === 'client');
    expect(remote.reducers.map((reducer) => reducer.name).sort()).toEqual(clientReducers.map(([name]) => name).sort());
    for (const [name, definition] of clientReducers) {
      const reducer = remote.reducers.find((candidate) => candidate.name === name);
      expect(
        reducer?.paramsType.elements.map((element) => element.name),
        name,
      ).toEqual(Object.keys(definition.params));
    }
  });
});
