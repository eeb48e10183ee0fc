import type { FleetConnection } from './fleet-connection.ts';

/** Inference used by one agent on one model. */
export interface UsageLine {
  agent: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
}

/** Inference used per agent and model, by agent then model; `since` in microseconds since the epoch. */
export async function usageTotals(connection: FleetConnection, options: { since?: number } = {}): Promise<UsageLine[]> {
  const totals = new Map<string, UsageLine>();
  for (const row of await connection.query('inference_usage')) {
    if (options.since !== undefined && Number(row.created_at) < options.since) continue;
    const key = `${String(row.agent)}\u0000${String(row.model)}`;
    const line = totals.get(key) ?? {
      agent: String(row.agent),
      model: String(row.model),
      requests: 0,
      promptTokens: 0,
      completionTokens: 0,
      durationMs: 0,
    };
    line.requests += 1;
    line.promptTokens += Number(row.prompt_tokens);
    line.completionTokens += Number(row.completion_tokens);
    line.durationMs += Number(row.duration_ms);
    totals.set(key, line);
  }
  return [...totals.values()].sort((a, b) => a.agent.localeCompare(b.agent) || a.model.localeCompare(b.model));
}
