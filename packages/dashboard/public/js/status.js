// What only the orchestrator knows (not in the database): supervision (restarts), the slot pool.
// Read from `GET /api/status` and normalised here, so panels do not depend on its exact nesting.

import { isRecord } from './api.js';

/**
 * @typedef {{ id: string, state: string, slots: number, busySlots: number }} ModelSlots
 * @typedef {{
 *   queued: number,
 *   queuedByPriority: Record<string, number>,
 *   running: number,
 *   maxConcurrent: number,
 *   permitsInUse: number,
 *   embeddings: { queued: number, running: number, maxConcurrent: number } | undefined,
 *   budgetBytes: number,
 *   reservedBytes: number,
 *   models: ModelSlots[],
 * }} PoolSnapshot
 * @typedef {{
 *   name: string,
 *   role: string | undefined,
 *   online: boolean | undefined,
 *   supervisionState: string | undefined,
 *   restarts: number | undefined,
 *   tokensUsed: number | undefined,
 * }} AgentSnapshot
 * @typedef {{ agents: Map<string, AgentSnapshot>, pool: PoolSnapshot | undefined, receivedAt: number }} StatusSnapshot
 */

/** The inference priority classes, highest first (protocol `INFERENCE_PRIORITIES`). */
export const PRIORITY_CLASSES = ['human', 'triage', 'act', 'reflect', 'compaction'];

/**
 * @param {unknown} value
 * @returns {number}
 */
function count(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : Number(value ?? 0) || 0;
}

/**
 * @param {unknown} value
 * @returns {string | undefined}
 */
function optionalString(value) {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The slot pool from an `admin.status`-shaped `pool` object.
 * @param {unknown} pool
 * @returns {PoolSnapshot | undefined}
 */
export function normalisePool(pool) {
  if (!isRecord(pool)) return undefined;
  /** @type {Record<string, number>} */
  const queuedByPriority = {};
  const byPriority = isRecord(pool.queuedByPriority) ? pool.queuedByPriority : {};
  for (const name of PRIORITY_CLASSES) queuedByPriority[name] = count(byPriority[name]);
  const embeddings = isRecord(pool.embeddings)
    ? {
        queued: count(pool.embeddings.queued),
        running: count(pool.embeddings.running),
        maxConcurrent: count(pool.embeddings.maxConcurrent),
      }
    : undefined;
  const models = Array.isArray(pool.models)
    ? pool.models.filter(isRecord).map((model) => ({
        id: String(model.id ?? '?'),
        state: String(model.state ?? 'unknown'),
        slots: count(model.slots),
        busySlots: count(model.busySlots),
      }))
    : [];
  return {
    queued: count(pool.queued),
    queuedByPriority,
    running: count(pool.running),
    maxConcurrent: count(pool.maxConcurrent),
    permitsInUse: count(pool.permitsInUse),
    embeddings,
    budgetBytes: count(pool.budgetBytes),
    reservedBytes: count(pool.reservedBytes),
    models,
  };
}

/**
 * The status answer: `{ orchestrator: admin.status, agents: [...] }` (what `claw status --json`
 * prints) or `admin.status` itself. Agent entries may carry `supervision` nested or flat.
 * @param {unknown} body
 * @returns {StatusSnapshot}
 */
export function normaliseStatus(body) {
  const root = isRecord(body) ? body : {};
  const orchestrator = isRecord(root.orchestrator) ? root.orchestrator : root;
  /** @type {Map<string, AgentSnapshot>} */
  const agents = new Map();
  const lists = [orchestrator.agents, root.agents];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const entry of list.filter(isRecord)) {
      const name = optionalString(entry.name);
      if (name === undefined) continue;
      const supervision = isRecord(entry.supervision) ? entry.supervision : undefined;
      const known = agents.get(name);
      agents.set(name, {
        name,
        role: optionalString(entry.role) ?? known?.role,
        online: typeof entry.online === 'boolean' ? entry.online : known?.online,
        supervisionState: optionalString(supervision?.state) ?? known?.supervisionState,
        restarts:
          supervision !== undefined
            ? count(supervision.restarts)
            : typeof entry.restarts === 'number'
              ? entry.restarts
              : known?.restarts,
        tokensUsed: typeof entry.tokensUsed === 'number' ? entry.tokensUsed : known?.tokensUsed,
      });
    }
  }
  return { agents, pool: normalisePool(orchestrator.pool ?? root.pool), receivedAt: Date.now() };
}
