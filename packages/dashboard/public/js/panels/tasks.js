// The task board: one column per state, each task with its priority, owner and dependencies
// (with the state of each dependency, so a blocked task says what it waits for).

import { el, relativeTime, setText, syncList } from '../dom.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

/** Board columns in the order work moves through them; the last three show the newest only. */
export const TASK_STATES = ['blocked', 'queued', 'claimed', 'completed', 'failed', 'cancelled'];
const FINISHED_SHOWN = 15;

/**
 * @param {HTMLElement} board
 * @param {PanelContext} context
 */
export function renderTasks(board, context) {
  const { store } = context;
  const tasks = store.rows('task');
  /** @type {Map<string, string[]>} */
  const dependencies = new Map();
  for (const row of store.rows('task_dependency')) {
    const list = dependencies.get(String(row.task_id)) ?? [];
    if (!list.includes(String(row.depends_on_task_id))) list.push(String(row.depends_on_task_id));
    dependencies.set(String(row.task_id), list);
  }
  const columns = TASK_STATES.map((state) => {
    const inState = tasks.filter((task) => task.state === state);
    const finished = state === 'completed' || state === 'failed' || state === 'cancelled';
    // Open work by priority (highest first); finished work newest first.
    const ordered = finished
      ? inState.reverse()
      : inState.sort((a, b) => Number(b.priority ?? 0) - Number(a.priority ?? 0) || Number(a.id) - Number(b.id));
    return { state, shown: finished ? ordered.slice(0, FINISHED_SHOWN) : ordered, total: inState.length };
  });
  syncList(
    board,
    columns,
    (column) => column.state,
    (column) => {
      const headingId = `tasks-${column.state}-heading`;
      return el('section', { class: 'task-column', 'aria-labelledby': headingId }, [
        el('h3', { id: headingId }),
        el('ul', { 'aria-labelledby': headingId }),
        el('p', { class: 'muted', 'data-field': 'more', hidden: true }),
      ]);
    },
    (section, column) => {
      const heading = section.querySelector('h3');
      const list = section.querySelector('ul');
      const more = section.querySelector('[data-field="more"]');
      if (heading === null || list === null || !(more instanceof HTMLElement)) return;
      setText(heading, `${capitalise(column.state)} (${column.total})`);
      syncList(
        list,
        column.shown,
        (task) => String(task.id),
        () => createTaskCard(),
        (card, task) => updateTaskCard(card, task, dependencies.get(String(task.id)) ?? [], context),
      );
      if (column.shown.length === 0) list.replaceChildren(el('li', { class: 'muted' }, ['none']));
      more.hidden = column.total <= column.shown.length;
      setText(more, `and ${column.total - column.shown.length} older`);
    },
  );
}

/** @param {string} text */
function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function createTaskCard() {
  return el('li', { class: 'task-card' }, [
    el('div', { class: 'title', 'data-field': 'title' }),
    el('div', { class: 'meta', 'data-field': 'meta' }),
    el('div', { class: 'depends', 'data-field': 'depends' }),
  ]);
}

/**
 * @param {HTMLElement} card
 * @param {Row} task
 * @param {string[]} dependsOn
 * @param {PanelContext} context
 */
function updateTaskCard(card, task, dependsOn, context) {
  const [title, meta, depends] = ['title', 'meta', 'depends'].map((name) =>
    card.querySelector(`[data-field="${name}"]`),
  );
  if (title == null || meta == null || depends == null) return;
  setText(title, `#${task.id} ${String(task.title ?? '')}`);
  const parts = [`priority ${task.priority}`];
  if (typeof task.owner === 'string') parts.push(`owner ${task.owner}`);
  else if (typeof task.reserved_for === 'string') parts.push(`for ${task.reserved_for}`);
  parts.push(`updated ${relativeTime(task.updated_at)}`);
  setText(meta, parts.join(' · '));
  const described = dependsOn.map((id) => {
    const dependency = context.store.get('task', id);
    return dependency === undefined ? `#${id}` : `#${id} (${String(dependency.state)})`;
  });
  setText(depends, described.length === 0 ? '' : `depends on ${described.join(', ')}`);
}
