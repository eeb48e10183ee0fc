import { createHash } from 'node:crypto';

const MAX_CACHED_NAMES = 4_096;
// Names are few (agents, the orchestrator) and every call and every pushed row needs its caller's
// identity, so the hash is computed once per name.
const identityByName = new Map<string, string>();

/**
 * The database identity of an authenticated IPC name: sha256("clawfleet-identity:" + name), as 64 hex
 * digits. Deterministic, so the same name maps to the same identity across restarts and hosts.
 */
export function identityForName(name: string): string {
  let identity = identityByName.get(name);
  if (identity === undefined) {
    identity = createHash('sha256').update(`clawfleet-identity:${name}`).digest('hex');
    if (identityByName.size >= MAX_CACHED_NAMES) identityByName.clear();
    identityByName.set(name, identity);
  }
  return identity;
}

/**
 * The identity scheduled reducers run as. Its preimage has no `:` after the prefix, so no caller name
 * can map to it.
 */
export const DATABASE_IDENTITY_HEX = createHash('sha256').update('clawfleet-database-identity').digest('hex');
