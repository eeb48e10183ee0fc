// The stimulus box: text, an optional target agent and a priority, sent to `POST /api/stimuli`,
// and the recent stimuli (as text: a stimulus may contain anything).

import { clockTime, el, setText, syncList } from '../dom.js';

/**
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

/**
 * @param {{ form: HTMLFormElement, text: HTMLTextAreaElement, to: HTMLSelectElement, priority: HTMLSelectElement, result: HTMLElement }} elements
 * @param {PanelContext} context
 */
export function wireStimulusForm(elements, context) {
  const { form, text, to, priority, result } = elements;
  const submit = form.querySelector('button[type="submit"]');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (body === '') {
      result.classList.add('error');
      setText(result, 'Write what the agents should do or know first.');
      text.setAttribute('aria-invalid', 'true');
      text.focus();
      return;
    }
    text.removeAttribute('aria-invalid');
    /** @type {{ text: string, priority: number, to?: string }} */
    const payload = { text: body, priority: Number(priority.value) };
    if (to.value !== '') payload.to = to.value;
    if (submit instanceof HTMLButtonElement) submit.disabled = true;
    result.classList.remove('error');
    setText(result, 'Sending…');
    context
      .act('POST', '/api/stimuli', payload)
      .then(
        (answer) => {
          const id = typeof answer === 'object' && answer !== null && 'id' in answer ? ` #${String(answer.id)}` : '';
          setText(
            result,
            `Stimulus${id} sent${payload.to === undefined ? '' : ` to ${payload.to}`} with priority ${payload.priority}.`,
          );
          text.value = '';
        },
        (/** @type {unknown} */ failure) => {
          result.classList.add('error');
          setText(result, `The stimulus was not sent: ${context.describe(failure)}`);
        },
      )
      .finally(() => {
        if (submit instanceof HTMLButtonElement) submit.disabled = false;
      });
  });
}

/**
 * Keeps the "To" choices in step with the agents, keeping the current choice.
 * @param {HTMLSelectElement} select
 * @param {string[]} agents
 * @param {string} anyLabel
 */
export function syncAgentOptions(select, agents, anyLabel) {
  const wanted = [anyLabel === '' ? [] : [['', anyLabel]], agents.map((name) => [name, name])].flat();
  const current = Array.from(select.options).map((option) => [option.value, option.text]);
  if (JSON.stringify(current) === JSON.stringify(wanted)) return;
  const selected = select.value;
  select.replaceChildren(...wanted.map(([value, label]) => el('option', { value }, [label ?? ''])));
  if (wanted.some(([value]) => value === selected)) select.value = selected;
}

/**
 * @param {HTMLElement} list
 * @param {PanelContext} context
 */
export function renderRecentStimuli(list, context) {
  const stimuli = context.store.rows('stimulus').slice(-10).reverse();
  syncList(
    list,
    stimuli,
    (row) => String(row.id),
    () =>
      el('li', { class: 'item' }, [
        el('span', { class: 'meta', 'data-field': 'meta' }),
        ' ',
        el('span', { 'data-field': 'text' }),
      ]),
    (item, row) => {
      const meta = item.querySelector('[data-field="meta"]');
      const text = item.querySelector('[data-field="text"]');
      if (meta === null || text === null) return;
      const target = typeof row.target_agent === 'string' ? row.target_agent : 'any agent';
      setText(
        meta,
        `#${row.id} ${clockTime(row.created_at)} → ${target}, priority ${row.priority}, from ${String(row.source)}:`,
      );
      setText(text, String(row.text ?? ''));
    },
  );
  if (stimuli.length === 0) list.replaceChildren(el('li', { class: 'muted' }, ['No stimuli yet.']));
}
