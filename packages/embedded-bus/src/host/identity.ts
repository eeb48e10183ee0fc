import { createHash } from 'node:crypto';

/**
 * The database identity of an authenticated IPC name: sha256("clawfleet-identity:" + name), as 64 hex
 * digits. Deterministic, so the same name maps to the same identity across restarts and hosts.
 */
export function identityForName(name: string): string {
  return createHash('sha256').update(`clawfleet-identity:${name}`).digest('hex');
}

/**
 * The identity scheduled reducers run as. Its preimage has no `:` after the prefix, so no caller name
 * can map to it.
 */
export const DATABASE_IDENTITY_HEX = createHash('sha256').update('clawfleet-database-identity').digest('hex');
