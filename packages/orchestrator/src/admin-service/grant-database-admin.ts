import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';

/**
 * Makes `name` an admin of the database (idempotent across restarts), so the human at the CLI can
 * do what the schema reserves for admins: create stimuli, resolve attention requests, read every
 * table. The CLI keeps its own identity rather than borrowing the orchestrator's, so what a person
 * did stays distinguishable (`created_by`, `resolved_by`).
 */
export function grantDatabaseAdmin(
  database: EmbeddedDatabase,
  adminName: string,
  name: string,
  identity: string,
): void {
  const admins = database.query(adminName, 'admin');
  if (admins.some((row) => row.identity === identity)) return;
  database.callReducer(adminName, 'add_admin', { identity, name });
}
