import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import { identityForName } from '@clawfleet/embedded-bus';
import type { FleetConnection } from '@clawfleet/fleet-views';
import type {
  AdminAgentControlResult,
  AdminSqlResult,
  AdminStatusResult,
  AgentControlAction,
  BusRow,
} from '@clawfleet/protocol';
import type { AdminService } from '../admin-service/index.ts';

/**
 * The fleet as the HTTP API sees it: the embedded database and the admin service in this process,
 * acting as `identity` (the CLI's, so a person at the dashboard has exactly the rights and the
 * reducers of a person at `claw`). Nothing crosses a socket; the queries and reducer calls are the
 * ones the IPC methods run.
 */
export class InProcessFleet implements FleetConnection {
  readonly #database: EmbeddedDatabase;
  readonly #admin: AdminService;
  readonly #identity: string;

  constructor(options: { database: EmbeddedDatabase; admin: AdminService; identity: string }) {
    this.#database = options.database;
    this.#admin = options.admin;
    this.#identity = options.identity;
  }

  async query(table: string, where: Record<string, string | number | boolean> = {}): Promise<BusRow[]> {
    return this.#database.query(this.#identity, table, where);
  }

  async call(reducer: string, args: Record<string, unknown>): Promise<void> {
    this.#database.callReducer(this.#identity, reducer, args);
  }

  async identity(): Promise<string> {
    return identityForName(this.#identity);
  }

  async status(): Promise<AdminStatusResult> {
    return this.#admin.status();
  }

  agentControl(agent: string, action: AgentControlAction): Promise<AdminAgentControlResult> {
    return this.#admin.agentControl(agent, action);
  }

  async sql(sql: string, maxRows: number): Promise<AdminSqlResult> {
    return this.#admin.sql(sql, maxRows);
  }
}
