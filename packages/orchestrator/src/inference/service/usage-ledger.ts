import type { InferenceAccountingRecord, InferenceUsageTotals } from '@clawfleet/protocol';

function emptyTotals(): InferenceUsageTotals {
  return {
    requests: 0,
    failures: 0,
    cancelled: 0,
    tokensIn: 0,
    tokensOut: 0,
    tokensReused: 0,
    queuedMs: 0,
    generateMs: 0,
  };
}

/** Per-agent running totals of inference accounting, kept in memory since the service started. */
export class UsageLedger {
  readonly #totals = new Map<string, InferenceUsageTotals>();

  add(record: InferenceAccountingRecord): void {
    const totals = this.#totals.get(record.agent) ?? emptyTotals();
    totals.requests += 1;
    if (record.outcome === 'failed') totals.failures += 1;
    if (record.outcome === 'cancelled') totals.cancelled += 1;
    totals.tokensIn += record.tokensIn;
    totals.tokensOut += record.tokensOut;
    totals.tokensReused += record.tokensReused;
    totals.queuedMs += record.queuedMs;
    totals.generateMs += record.generateMs;
    this.#totals.set(record.agent, totals);
  }

  /** A copy of the agent's totals; zeros for an agent that made no request. */
  totalsOf(agent: string): InferenceUsageTotals {
    return { ...(this.#totals.get(agent) ?? emptyTotals()) };
  }

  agents(): string[] {
    return [...this.#totals.keys()].sort();
  }
}
