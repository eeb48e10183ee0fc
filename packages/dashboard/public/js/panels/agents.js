// The five agents as cards: phase, current task, progress, last reflection, tokens used, restarts,
// with pause/resume buttons. Phase and reflection are live (row and phase events); restarts and
// the process state come from the status poll.

import { clockTime, el, formatCount, relativeTime, setText, syncList } from '../dom.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

/** What each loop phase says in words, with a symbol so it never depends on colour. */
const PHASE_LABELS = /** @type {Record<string, string>} */ ({
  idle: '○ idle',
  triaging: '◐ triaging',
  acting: '▶ acting',
  delegating: '➜ delegating',
  awaiting_approval: '⏸ awaiting approval',
  reflecting: '✎ reflecting',
  deferred: '⏲ deferred',
});

/**
 * @param {string} phase
 */
export function phaseLabel(phase) {
  return PHASE_LABELS[phase] ?? phase;
}

/**
 * The agents shown: the status poll's configured agents and the database's registered ones.
 * @param {PanelContext} context
 * @returns {string[]}
 */
export function agentNames(context) {
  const names = new Set(context.status.agents.keys());
  for (const row of context.store.rows('agent')) if (typeof row.name === 'string') names.add(row.name);
  return [...names].sort(byAgentOrder);
}

/** LeadClaw first, then the rest alphabetically: the coordinator leads the page. */
const ORDER = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'];

/**
 * @param {string} a
 * @param {string} b
 */
function byAgentOrder(a, b) {
  const ia = ORDER.indexOf(a);
  const ib = ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  return a.localeCompare(b);
}

/**
 * @param {HTMLElement} list
 * @param {PanelContext} context
 */
export function renderAgents(list, context) {
  const names = agentNames(context);
  const reflections = latestByAgent(context.store.rows('reflection'));
  const tokens = tokensByAgent(context);
  syncList(
    list,
    names,
    (name) => name,
    (name) => createCard(name, context),
    (card, name) => updateCard(card, name, context, reflections.get(name), tokens.get(name)),
  );
}

/**
 * @param {Row[]} rows
 * @returns {Map<string, Row>}
 */
function latestByAgent(rows) {
  /** @type {Map<string, Row>} */
  const latest = new Map();
  for (const row of rows) if (typeof row.agent === 'string') latest.set(row.agent, row); // rows are in id order
  return latest;
}

/**
 * Tokens per agent: the status poll's total plus what live usage rows added since that poll.
 * @param {PanelContext} context
 * @returns {Map<string, number>}
 */
function tokensByAgent(context) {
  /** @type {Map<string, number>} */
  const totals = new Map();
  for (const [name, agent] of context.status.agents) totals.set(name, agent.tokensUsed ?? 0);
  for (const row of context.store.rows('inference_usage')) {
    if (typeof row.agent !== 'string' || Number(row.id) <= context.usageCountedThrough) continue;
    const added = Number(row.prompt_tokens ?? 0) + Number(row.completion_tokens ?? 0);
    totals.set(row.agent, (totals.get(row.agent) ?? 0) + added);
  }
  return totals;
}

/**
 * @param {string} name
 * @param {PanelContext} context
 */
function createCard(name, context) {
  const headingId = `agent-${name}-heading`;
  const pause = el('button', { type: 'button', class: 'secondary', 'data-role': 'pause' }, ['Pause']);
  const card = el('li', { class: 'agent-card', 'aria-labelledby': headingId }, [
    el('h3', { id: headingId }, [name]),
    el('p', { class: 'role', 'data-field': 'role' }),
    el('p', {}, [el('span', { class: 'phase', 'data-field': 'phase' })]),
    el('dl', { class: 'facts' }, [
      el('dt', {}, ['Task']),
      el('dd', { 'data-field': 'task' }),
      el('dt', {}, ['Doing']),
      el('dd', { 'data-field': 'progress' }),
      el('dt', { 'data-field': 'plans-label', hidden: true }, ['Waiting']),
      el('dd', { 'data-field': 'plans', hidden: true }),
      el('dt', {}, ['Tokens']),
      el('dd', { 'data-field': 'tokens' }),
      el('dt', {}, ['Process']),
      el('dd', { 'data-field': 'process' }),
      el('dt', {}, ['Restarts']),
      el('dd', { 'data-field': 'restarts' }),
      el('dt', {}, ['Reflected']),
      el('dd', { 'data-field': 'reflection' }, [
        el('span', { class: 'reflection', 'data-field': 'reflection-text' }),
        ' ',
        el('span', { class: 'muted', 'data-field': 'reflection-time' }),
      ]),
    ]),
    pause,
    el('p', { class: 'error', role: 'alert', 'data-field': 'error', hidden: true }),
  ]);
  pause.addEventListener('click', () => {
    const action = pause.dataset.action === 'resume' ? 'resume' : 'pause';
    pause.disabled = true;
    context
      .act(`POST`, `/api/agents/${encodeURIComponent(name)}/${action}`, undefined)
      .then(
        () => showCardError(card, ''),
        (/** @type {unknown} */ error) =>
          showCardError(card, `Could not ${action} ${name}: ${context.describe(error)}`),
      )
      .finally(() => {
        pause.disabled = false;
      });
  });
  return card;
}

/**
 * @param {HTMLElement} card
 * @param {string} message
 */
function showCardError(card, message) {
  const error = field(card, 'error');
  setText(error, message);
  error.hidden = message === '';
}

/**
 * @param {HTMLElement} card
 * @param {string} name
 * @returns {HTMLElement}
 */
function field(card, name) {
  const element = card.querySelector(`[data-field="${name}"]`);
  if (!(element instanceof HTMLElement)) throw new Error(`agent card without ${name}`);
  return element;
}

/**
 * @param {HTMLElement} card
 * @param {string} name
 * @param {PanelContext} context
 * @param {Row | undefined} reflection
 * @param {number | undefined} tokens
 */
function updateCard(card, name, context, reflection, tokens) {
  const { store } = context;
  const registered = store.get('agent', name);
  const loop = store.get('agent_status', name);
  const supervised = context.status.agents.get(name);
  const phase = typeof loop?.phase === 'string' ? loop.phase : 'idle';
  card.dataset.phase = phase;
  const online = typeof registered?.online === 'boolean' ? registered.online : supervised?.online;
  const role = typeof registered?.role === 'string' ? registered.role : (supervised?.role ?? '');
  setText(
    field(card, 'role'),
    [role, online === undefined ? '' : online ? 'online' : 'offline'].filter(Boolean).join(' · '),
  );
  setText(field(card, 'phase'), phaseLabel(phase));

  const taskId = loop?.task_id;
  const task = taskId === null || taskId === undefined ? undefined : store.get('task', String(taskId));
  setText(
    field(card, 'task'),
    taskId === null || taskId === undefined
      ? 'none'
      : `#${taskId} ${typeof task?.title === 'string' ? task.title : ''}`.trim(),
  );
  const progress = typeof loop?.progress === 'string' && loop.progress !== '' ? loop.progress : '—';
  const queue = Number(loop?.queue_length ?? 0);
  setText(field(card, 'progress'), queue > 0 ? `${progress} (${queue} waiting)` : progress);
  // A cycle parked on a plan leaves the agent idle (it works on other things meanwhile): say what it waits for.
  const pending = store.rows('plan').filter((plan) => plan.agent === name && plan.state === 'pending');
  field(card, 'plans-label').hidden = pending.length === 0;
  field(card, 'plans').hidden = pending.length === 0;
  setText(field(card, 'plans'), pending.map((plan) => `plan #${plan.id} awaiting approval`).join(', '));
  setText(field(card, 'tokens'), tokens === undefined ? '—' : formatCount(tokens));
  const state = supervised?.supervisionState;
  setText(field(card, 'process'), state ?? 'not supervised here');
  setText(field(card, 'restarts'), supervised?.restarts === undefined ? '—' : String(supervised.restarts));

  const reflectionText = typeof reflection?.text === 'string' ? reflection.text : 'nothing yet';
  setText(field(card, 'reflection-text'), reflectionText);
  setText(
    field(card, 'reflection-time'),
    reflection === undefined ? '' : `(${clockTime(reflection.created_at)}, ${relativeTime(reflection.created_at)})`,
  );

  const pause = card.querySelector('button[data-role="pause"]');
  if (pause instanceof HTMLButtonElement) {
    const paused = state === 'paused';
    pause.dataset.action = paused ? 'resume' : 'pause';
    setText(pause, paused ? `Resume ${name}` : `Pause ${name}`);
    pause.hidden = state === undefined;
  }
}
