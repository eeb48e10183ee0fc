import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import type { BusRowChange, InferenceAccountingRecord } from '@clawfleet/protocol';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentSupervisor } from '../agent-lifecycle/index.ts';
import type { SlotPoolStatus } from '../inference/slot-pool/index.ts';

/** Queue waits and generation times: from a millisecond (a free slot) to minutes (a long act step on a busy pool). */
const WAIT_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180];
/** Notifying subscribers of a commit: tens of microseconds to a few milliseconds. */
const NOTIFY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
/** Time an agent spends in one phase of a cycle. */
const PHASE_BUCKETS = [0.01, 0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Terminal states of a tool call (db-module's `tool_call.state`). */
const TOOL_CALL_DONE = new Set(['succeeded', 'failed', 'refused', 'interrupted']);

export interface OrchestratorMetricsSources {
  poolStatus: () => SlotPoolStatus;
  workerRestarts: () => number;
  agentSupervisor: () => AgentSupervisor | undefined;
  eventClients: () => number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The orchestrator's Prometheus metrics (docs/metrics.md), in one registry of its own. Counters are
 * counted where the numbers are made: inference accounting (`recordInference`), the database's
 * observer (reducer calls, notify time) and committed row changes (cycles, phases, tool calls);
 * gauges of the pool, the worker and the supervisor are read at scrape time.
 */
export class OrchestratorMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;
  /** When each agent entered its current phase (milliseconds), for the phase-duration histogram. */
  readonly #phaseSince = new Map<string, { phase: string; since: number }>();

  readonly #inferenceRequests: Counter<'model' | 'method' | 'priority' | 'outcome'>;
  readonly #inferenceErrors: Counter<'code'>;
  readonly #tokens: Counter<'model' | 'kind'>;
  readonly #queueWait: Histogram<'priority'>;
  readonly #generate: Histogram<'model' | 'method'>;
  readonly #reducerCalls: Counter<'reducer'>;
  readonly #reducerErrors: Counter<'reducer' | 'code'>;
  readonly #notify: Histogram;
  readonly #cycles: Counter<'agent' | 'outcome'>;
  readonly #phaseDuration: Histogram<'agent' | 'phase'>;
  readonly #toolCalls: Counter<'agent' | 'tool' | 'outcome'>;
  readonly #refusals: Counter<'agent' | 'code'>;
  readonly #eventClientsDropped: Counter;

  constructor(sources: OrchestratorMetricsSources) {
    this.#now = sources.now ?? Date.now;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'claw_pool_slots',
      help: 'Generation slots (context sequences) per model',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const model of sources.poolStatus().models) this.set({ model: model.id }, model.slots);
      },
    });
    new Gauge({
      name: 'claw_pool_slots_busy',
      help: 'Generation slots lent out now, per model',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const model of sources.poolStatus().models) this.set({ model: model.id }, model.busySlots);
      },
    });
    new Gauge({
      name: 'claw_pool_queue_length',
      help: 'Generation requests waiting for a slot, by the priority class they asked for',
      labelNames: ['priority'],
      registers,
      collect() {
        this.reset();
        for (const [priority, count] of Object.entries(sources.poolStatus().queuedByPriority)) {
          this.set({ priority }, count);
        }
      },
    });
    new Gauge({
      name: 'claw_pool_reserved_bytes',
      help: 'Memory reserved by loaded models and their contexts',
      registers,
      collect() {
        this.set(sources.poolStatus().reservedBytes);
      },
    });
    this.#queueWait = new Histogram({
      name: 'claw_pool_queue_wait_seconds',
      help: 'Time inference requests waited for a slot (or embedding turn), by priority class',
      labelNames: ['priority'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#inferenceRequests = new Counter({
      name: 'claw_inference_requests_total',
      help: 'Inference requests that ended, by model, method, priority class and outcome (ok, failed, cancelled)',
      labelNames: ['model', 'method', 'priority', 'outcome'],
      registers,
    });
    this.#inferenceErrors = new Counter({
      name: 'claw_inference_errors_total',
      help: 'Inference requests that failed or were cancelled, by ClawError code',
      labelNames: ['code'],
      registers,
    });
    this.#tokens = new Counter({
      name: 'claw_inference_tokens_total',
      help: 'Tokens by model and kind: prompt (evaluated or reused), completion, reused (prompt tokens taken from the slot cache)',
      labelNames: ['model', 'kind'],
      registers,
    });
    this.#generate = new Histogram({
      name: 'claw_inference_generate_seconds',
      help: 'Time from holding a slot to the last token, by model and method',
      labelNames: ['model', 'method'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    let restartsSeen = 0;
    new Counter({
      name: 'claw_inference_worker_restarts_total',
      help: 'Times the inference worker process was restarted after it died',
      registers,
      collect() {
        const restarts = sources.workerRestarts();
        if (restarts > restartsSeen) this.inc(restarts - restartsSeen);
        restartsSeen = Math.max(restartsSeen, restarts);
      },
    });
    this.#reducerCalls = new Counter({
      name: 'claw_bus_reducer_calls_total',
      help: 'Client reducer calls on the embedded bus, by reducer (refused ones included)',
      labelNames: ['reducer'],
      registers,
    });
    this.#reducerErrors = new Counter({
      name: 'claw_bus_reducer_errors_total',
      help: 'Reducer calls refused or failed, by reducer and ClawError code (REDUCER_REJECTED: the reducer said no)',
      labelNames: ['reducer', 'code'],
      registers,
    });
    this.#notify = new Histogram({
      name: 'claw_bus_notify_seconds',
      help: "Time to hand one commit's row changes to every subscriber (agents, the CLI, the event stream)",
      buckets: NOTIFY_BUCKETS,
      registers,
    });
    this.#cycles = new Counter({
      name: 'claw_agent_cycles_total',
      help: 'Agent cycles that ended, by agent and outcome (success, partial, failure, ignored, delegated)',
      labelNames: ['agent', 'outcome'],
      registers,
    });
    this.#phaseDuration = new Histogram({
      name: 'claw_agent_phase_seconds',
      help: 'Time an agent spent in one phase (triaging, acting, awaiting_approval, reflecting, idle) before the next',
      labelNames: ['agent', 'phase'],
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.#toolCalls = new Counter({
      name: 'claw_agent_tool_calls_total',
      help: 'Tool calls that ended, by agent, tool and outcome (succeeded, failed, refused, interrupted)',
      labelNames: ['agent', 'tool', 'outcome'],
      registers,
    });
    this.#refusals = new Counter({
      name: 'claw_agent_refusals_total',
      help: 'Tool calls refused before they ran (not on the allowlist, arguments against the schema), by agent and code',
      labelNames: ['agent', 'code'],
      registers,
    });
    const restartsByAgent = new Map<string, number>();
    new Counter({
      name: 'claw_agent_process_restarts_total',
      help: 'Times the supervisor restarted an agent process',
      labelNames: ['agent'],
      registers,
      collect() {
        for (const status of sources.agentSupervisor()?.status() ?? []) {
          const seen = restartsByAgent.get(status.agent) ?? 0;
          if (status.restarts > seen) this.inc({ agent: status.agent }, status.restarts - seen);
          restartsByAgent.set(status.agent, Math.max(seen, status.restarts));
        }
      },
    });
    new Gauge({
      name: 'claw_http_event_clients',
      help: 'Clients connected to GET /events',
      registers,
      collect() {
        this.set(sources.eventClients());
      },
    });
    this.#eventClientsDropped = new Counter({
      name: 'claw_http_event_clients_dropped_total',
      help: 'Event-stream clients disconnected because they stopped reading (their buffer passed the limit)',
      registers,
    });
  }

  /** Counts what the database does: every client reducer call, the time each commit takes to notify. */
  observeDatabase(database: EmbeddedDatabase): () => void {
    const stopObserving = database.observe({
      reducerCall: ({ reducer, errorCode }) => {
        this.#reducerCalls.inc({ reducer });
        if (errorCode !== undefined) this.#reducerErrors.inc({ reducer, code: errorCode });
      },
      notified: ({ durationMs }) => this.#notify.observe(durationMs / 1000),
    });
    const stopListening = database.onCommit((changes) => this.#rowChanges(changes));
    return () => {
      stopObserving();
      stopListening();
    };
  }

  /** One inference request ended (the inference service's accounting record). */
  inference(record: InferenceAccountingRecord): void {
    const { modelId: model, method, priority, outcome } = record;
    this.#inferenceRequests.inc({ model, method, priority, outcome });
    if (outcome !== 'ok') this.#inferenceErrors.inc({ code: record.errorCode ?? 'INTERNAL' });
    this.#queueWait.observe({ priority }, record.queuedMs / 1000);
    if (outcome === 'ok') this.#generate.observe({ model, method }, record.generateMs / 1000);
    if (record.tokensIn > 0) this.#tokens.inc({ model, kind: 'prompt' }, record.tokensIn);
    if (record.tokensOut > 0) this.#tokens.inc({ model, kind: 'completion' }, record.tokensOut);
    if (record.tokensReused > 0) this.#tokens.inc({ model, kind: 'reused' }, record.tokensReused);
  }

  eventClientDropped(): void {
    this.#eventClientsDropped.inc();
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  #rowChanges(changes: readonly BusRowChange[]): void {
    for (const change of changes) {
      const { table, row, oldRow } = change;
      if (change.op === 'delete') continue;
      if (table === 'cycle') {
        if (row.outcome !== null && row.outcome !== undefined && (oldRow?.outcome ?? null) === null) {
          this.#cycles.inc({ agent: String(row.agent), outcome: String(row.outcome) });
        }
      } else if (table === 'agent_status') {
        this.#phaseChange(String(row.agent), String(row.phase));
      } else if (table === 'tool_call') {
        const state = String(row.state);
        if (!TOOL_CALL_DONE.has(state) || (oldRow !== undefined && TOOL_CALL_DONE.has(String(oldRow.state)))) continue;
        const agent = String(row.agent);
        this.#toolCalls.inc({ agent, tool: String(row.tool), outcome: state });
        if (state === 'refused') this.#refusals.inc({ agent, code: String(row.error_code) || 'REFUSED' });
      }
    }
  }

  #phaseChange(agent: string, phase: string): void {
    const now = this.#now();
    const current = this.#phaseSince.get(agent);
    if (current !== undefined && current.phase === phase) return;
    if (current !== undefined)
      this.#phaseDuration.observe({ agent, phase: current.phase }, (now - current.since) / 1000);
    this.#phaseSince.set(agent, { phase, since: now });
  }
}
