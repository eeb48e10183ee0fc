// The GPU slot pool: each model's slots (busy or free, in words), the queue per priority class, and
// how long recent requests of each class waited for a slot (from `inference_usage.queued_ms`).

import { el, formatCount, replaceChildren } from '../dom.js';
import { PRIORITY_CLASSES } from '../status.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

/** The most recent requests the wait figures are computed over. */
export const WAIT_WINDOW = 200;

/**
 * Waits of the newest {@link WAIT_WINDOW} requests, per priority class.
 * @param {Row[]} usage  inference_usage rows in id order
 * @returns {Map<string, { requests: number, medianMs: number, maxMs: number }>}
 */
export function waitsByClass(usage) {
  /** @type {Map<string, number[]>} */
  const waits = new Map();
  for (const row of usage.slice(-WAIT_WINDOW)) {
    if (typeof row.priority_class !== 'string') continue;
    const list = waits.get(row.priority_class) ?? [];
    list.push(Number(row.queued_ms ?? 0));
    waits.set(row.priority_class, list);
  }
  /** @type {Map<string, { requests: number, medianMs: number, maxMs: number }>} */
  const figures = new Map();
  for (const [name, list] of waits) {
    const sorted = [...list].sort((a, b) => a - b);
    figures.set(name, {
      requests: sorted.length,
      medianMs: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
      maxMs: sorted[sorted.length - 1] ?? 0,
    });
  }
  return figures;
}

/** @param {number} bytes */
function mebibytes(bytes) {
  return `${formatCount(bytes / 1024 / 1024)} MiB`;
}

/**
 * @param {HTMLElement} container
 * @param {PanelContext} context
 */
export function renderPool(container, context) {
  const pool = context.status.pool;
  if (pool === undefined) {
    replaceChildren(container, [el('p', { class: 'muted' }, ['The slot pool has not been read yet.'])]);
    return;
  }
  const waits = waitsByClass(context.store.rows('inference_usage'));
  // Rebuilt only when a figure changed: the region is live, and a screen reader would otherwise
  // repeat it on every status poll.
  const signature = JSON.stringify([pool, [...waits]]);
  if (container.dataset.signature === signature) return;
  container.dataset.signature = signature;
  const maxQueued = Math.max(1, ...PRIORITY_CLASSES.map((name) => pool.queuedByPriority[name] ?? 0));
  replaceChildren(container, [
    ...pool.models.flatMap((model) => [
      el('h3', {}, [`Model ${model.id} (${model.state}): ${model.busySlots} of ${model.slots} slots busy`]),
      el(
        'ul',
        { class: 'slots', 'aria-label': `Slots of model ${model.id}` },
        Array.from({ length: model.slots }, (_, index) =>
          el('li', { class: 'slot', 'data-busy': String(index < model.busySlots) }, [
            `Slot ${index + 1}: ${index < model.busySlots ? '■ busy' : '□ free'}`,
          ]),
        ),
      ),
    ]),
    el('p', {}, [
      `Generation: ${pool.running} running, ${pool.queued} waiting, ${pool.permitsInUse} of ${pool.maxConcurrent} permits in use.`,
      pool.embeddings === undefined
        ? ''
        : ` Embeddings: ${pool.embeddings.running} running, ${pool.embeddings.queued} waiting (lane of ${pool.embeddings.maxConcurrent}).`,
      pool.budgetBytes > 0
        ? ` Memory: ${mebibytes(pool.reservedBytes)} of ${mebibytes(pool.budgetBytes)} reserved.`
        : '',
    ]),
    el('table', { class: 'figures' }, [
      el('caption', { class: 'muted' }, [
        `Queue by priority, highest first; waits of the last ${WAIT_WINDOW} requests since this page opened`,
      ]),
      el('thead', {}, [
        el('tr', {}, [
          el('th', { scope: 'col' }, ['Priority']),
          el('th', { scope: 'col' }, ['Waiting now']),
          el('th', { scope: 'col' }, ['Requests']),
          el('th', { scope: 'col' }, ['Median wait']),
          el('th', { scope: 'col' }, ['Longest wait']),
        ]),
      ]),
      el(
        'tbody',
        {},
        PRIORITY_CLASSES.map((name) => {
          const queued = pool.queuedByPriority[name] ?? 0;
          const figures = waits.get(name);
          return el('tr', { 'data-priority': name }, [
            el('th', { scope: 'row' }, [name]),
            el('td', { class: 'number' }, [
              el('span', {
                class: 'bar',
                style: `width: ${Math.round((queued / maxQueued) * 4)}rem`,
                'aria-hidden': 'true',
              }),
              ` ${queued}`,
            ]),
            el('td', { class: 'number' }, [figures === undefined ? '0' : String(figures.requests)]),
            el('td', { class: 'number' }, [figures === undefined ? '—' : `${formatCount(figures.medianMs)} ms`]),
            el('td', { class: 'number' }, [figures === undefined ? '—' : `${formatCount(figures.maxMs)} ms`]),
          ]);
        }),
      ),
    ]),
  ]);
}
