import type { BusRow } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

/** Messages between agents, oldest first, the newest `limit`; with `agent`, those from, to or mentioning it. */
export async function listMessages(
  connection: FleetConnection,
  options: { agent?: string; limit: number },
): Promise<BusRow[]> {
  const { agent } = options;
  return (await connection.query('message'))
    .filter(
      (row) =>
        agent === undefined ||
        row.from_agent === agent ||
        row.to_agent === agent ||
        (Array.isArray(row.mentions) && row.mentions.includes(agent)),
    )
    .sort((a, b) => Number(a.id) - Number(b.id))
    .slice(-options.limit);
}

/** Reflections, oldest first, the newest `limit`; `since` in microseconds since the epoch (the rows' unit). */
export async function listReflections(
  connection: FleetConnection,
  options: { agent?: string; since?: number; limit: number },
): Promise<BusRow[]> {
  const { since } = options;
  return (await connection.query('reflection', options.agent === undefined ? {} : { agent: options.agent }))
    .filter((row) => since === undefined || Number(row.created_at) >= since)
    .sort((a, b) => Number(a.id) - Number(b.id))
    .slice(-options.limit);
}
