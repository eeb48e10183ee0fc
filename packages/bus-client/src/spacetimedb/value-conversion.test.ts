import { isClawError } from '@clawfleet/protocol';
import { Identity, Timestamp } from 'spacetimedb';
import { describe, expect, it } from 'vitest';
import { REMOTE_MODULE } from './bindings/index.ts';
import { argsToSdk, type ProductElement, rowFromSdk } from './value-conversion.ts';

const remote = REMOTE_MODULE as unknown as {
  tables: Record<string, { rowType: { elements: ProductElement[] } }>;
  reducers: { name: string; paramsType: { elements: ProductElement[] } }[];
};
const paramsOf = (name: string) =>
  remote.reducers.find((reducer) => reducer.name === name)?.paramsType as {
    elements: ProductElement[];
  };
const hex = 'ab'.repeat(32);

describe('bus <-> SpacetimeDB value conversion', () => {
  it('turns bus-convention reducer arguments into SDK values by parameter type', () => {
    const args = argsToSdk(paramsOf('register_agent'), { name: 'LeadClaw', identity: hex, role: 'lead' }) as {
      identity: Identity;
    };
    expect(args.identity).toBeInstanceOf(Identity);
    expect(args.identity.toHexString()).toBe(hex);
    const task = argsToSdk(paramsOf('create_task'), {
      title: 't',
      description: '',
      priority: 3,
      depends_on: [1, 2],
      stimulus_id: null,
      reserved_for: 'DevClaw',
    }) as Record<string, unknown>;
    expect(task.depends_on).toEqual([1n, 2n]);
    expect(task.stimulus_id).toBeUndefined();
    expect(task.reserved_for).toBe('DevClaw');
  });

  it('refuses arguments of the wrong type or unknown fields with INVALID_PARAMS', () => {
    const attempts = [
      () => argsToSdk(paramsOf('claim_task'), { task_id: 'seven', lease_seconds: 10 }),
      () => argsToSdk(paramsOf('claim_task'), { task_id: 1, lease_seconds: 10, extra: true }),
      () => argsToSdk(paramsOf('register_agent'), { name: 'x', identity: 'not hex', role: 'r' }),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(isClawError(caught, 'INVALID_PARAMS')).toBe(true);
    }
  });

  it('shows SDK rows in the bus convention: hex identities, microseconds, numbers, null', () => {
    const row = rowFromSdk(remote.tables.task?.rowType.elements ?? [], {
      id: 42n,
      title: 't',
      description: '',
      priority: 3,
      state: 'queued',
      created_by: Identity.fromString(hex),
      stimulus_id: undefined,
      reserved_for: undefined,
      owner: undefined,
      lease_expires_at: new Timestamp(1_700_000_000_000_000n),
      attempts: 0,
      result: undefined,
      created_at: new Timestamp(5n),
      updated_at: new Timestamp(2n ** 60n),
    });
    expect(row).toMatchObject({
      id: 42,
      created_by: hex,
      owner: null,
      lease_expires_at: 1_700_000_000_000_000,
      created_at: 5,
      updated_at: 2n ** 60n,
    });
  });
});
