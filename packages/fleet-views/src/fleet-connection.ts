import type {
  AdminAgentControlResult,
  AdminSqlResult,
  AdminStatusResult,
  AgentControlAction,
  BusRow,
} from '@clawfleet/protocol';

/**
 * What a person's view of the fleet needs from a running orchestrator, as the admin identity the
 * person acts as. The CLI's `OrchestratorConnection` satisfies it over the socket; the HTTP API
 * satisfies it in-process over the embedded database, so both see and write exactly the same.
 */
export interface FleetConnection {
  /** Rows of one table or view, filtered by column equality (values in the public form). */
  query(table: string, where?: Record<string, string | number | boolean>): Promise<BusRow[]>;
  /** Runs a reducer as this connection's identity; rejects with the reducer's ClawError. */
  call(reducer: string, args: Record<string, unknown>): Promise<void>;
  /** This connection's database identity (lowercase hex). */
  identity(): Promise<string>;
  /** What only the orchestrator knows: process, slot pool, supervised agents, bus file. */
  status(): Promise<AdminStatusResult>;
  /** Pauses, resumes or restarts a supervised agent (waits for its drain). */
  agentControl(agent: string, action: AgentControlAction): Promise<AdminAgentControlResult>;
  /** One read-only SELECT on the bus database. */
  sql(sql: string, maxRows: number): Promise<AdminSqlResult>;
}
