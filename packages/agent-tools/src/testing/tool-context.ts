import type { BusClient } from '@clawfleet/bus-client';
import { ClawError, silentLogger } from '@clawfleet/protocol';
import type { ToolContext, ToolMemory, ToolSystem } from '../tool.ts';

function unavailable(what: string): never {
  throw new ClawError('INTERNAL', `This test context has no ${what}; pass one to createTestToolContext`);
}

/** A bus that refuses every use: for tests of tools that must not touch the bus. */
export const unavailableBus: BusClient = {
  name: 'test',
  identity: '00',
  get reducers() {
    return unavailable('bus');
  },
  callReducer: async () => unavailable('bus'),
  subscribe: () => unavailable('bus'),
  rows: () => unavailable('bus'),
  get cache() {
    return unavailable('bus');
  },
  dispose: async () => {},
  [Symbol.asyncDispose]: async () => {},
};

const unavailableMemory: ToolMemory = {
  search: async () => unavailable('memory'),
  writeNote: async () => unavailable('memory'),
  share: async () => unavailable('memory'),
};

const unavailableSystem: ToolSystem = { inferenceStatus: async () => unavailable('system') };

/**
 * A ToolContext for tests. Directories must be given (tests make their own temp dirs); the bus,
 * memory and system views refuse every use unless the test passes real or fake ones.
 */
export function createTestToolContext(
  fields: Pick<ToolContext, 'workspaceDir' | 'sharedDir'> & Partial<ToolContext>,
): ToolContext {
  return {
    agent: 'DevClaw',
    cycleId: 1,
    step: 0,
    bus: unavailableBus,
    memory: unavailableMemory,
    system: unavailableSystem,
    signal: new AbortController().signal,
    logger: silentLogger,
    ...fields,
  };
}
