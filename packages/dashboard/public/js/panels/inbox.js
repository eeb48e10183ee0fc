// The attention inbox (open requests, each with a resolution field and a Resolve button) and plan
// approvals (Approve, or Reject with a reason). A decision goes through the API to the same
// reducers the CLI uses; the row change that follows removes the item from the list.

import { el, relativeTime, setText, syncList } from '../dom.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

/**
 * @param {{ attention: HTMLElement, attentionSummary: HTMLElement, plans: HTMLElement, plansSummary: HTMLElement, decided: HTMLElement }} elements
 * @param {PanelContext} context
 */
export function renderInbox(elements, context) {
  const { store } = context;
  const open = store
    .rows('attention_request')
    .filter((row) => row.state === 'open')
    .sort((a, b) => Number(b.priority ?? 0) - Number(a.priority ?? 0) || Number(a.id) - Number(b.id));
  setText(
    elements.attentionSummary,
    open.length === 0 ? 'No agent is waiting for you.' : `${open.length} open request${open.length === 1 ? '' : 's'}.`,
  );
  syncList(
    elements.attention,
    open,
    (row) => String(row.id),
    (row) => createAttentionItem(row, context),
    updateAttentionItem,
  );

  const pending = store.rows('plan').filter((row) => row.state === 'pending');
  setText(
    elements.plansSummary,
    pending.length === 0
      ? 'No plan is waiting for approval.'
      : `${pending.length} plan${pending.length === 1 ? '' : 's'} waiting.`,
  );
  syncList(
    elements.plans,
    pending,
    (row) => String(row.id),
    (row) => createPlanItem(row, context),
    updatePlanItem,
  );

  const decided = [
    ...store
      .rows('attention_request')
      .filter((row) => row.state !== 'open')
      .map((row) => ({
        key: `attention-${row.id}`,
        at: Number(row.resolved_at ?? row.created_at ?? 0),
        text: describeDecidedAttention(row),
      })),
    ...store
      .rows('plan')
      .filter((row) => row.state !== 'pending')
      .map((row) => ({
        key: `plan-${row.id}`,
        at: Number(row.decided_at ?? row.created_at ?? 0),
        text: describeDecidedPlan(row),
      })),
  ]
    .sort((a, b) => b.at - a.at)
    .slice(0, 20);
  syncList(
    elements.decided,
    decided,
    (item) => item.key,
    () => el('li', { class: 'item' }),
    (item, entry) => setText(item, entry.text),
  );
}

/** @param {Row} row */
function describeDecidedAttention(row) {
  const resolution = typeof row.resolution === 'string' ? `: ${row.resolution}` : '';
  return `Attention #${row.id} from ${String(row.agent)} ${String(row.state)}${resolution} — "${String(row.text ?? '')}"`;
}

/** @param {Row} row */
function describePlanDecision(row) {
  const by = typeof row.decided_by === 'string' ? ` by ${row.decided_by}` : '';
  const reason =
    typeof row.decision_reason === 'string' && row.decision_reason !== '' ? ` (${row.decision_reason})` : '';
  return `${String(row.state)}${by}${reason}`;
}

/** @param {Row} row */
function describeDecidedPlan(row) {
  return `Plan #${row.id} of ${String(row.agent)} ${describePlanDecision(row)} — "${String(row.text ?? '').slice(0, 200)}"`;
}

/**
 * @param {Row} row
 * @param {PanelContext} context
 */
function createAttentionItem(row, context) {
  const id = String(row.id);
  const inputId = `attention-${id}-resolution`;
  const input = el('input', { id: inputId, type: 'text', maxlength: 8000, 'data-field': 'resolution' });
  const button = el('button', { type: 'submit' }, [`Resolve request #${id}`]);
  const error = el('p', { class: 'error', role: 'alert', hidden: true });
  const form = el('form', { class: 'inline-form', novalidate: true }, [
    el('label', { for: inputId }, [`Resolution for request #${id}`]),
    input,
    ' ',
    button,
    error,
  ]);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const resolution = input.value.trim() === '' ? String(row.default_action ?? '') : input.value.trim();
    if (resolution === '') {
      showError(error, 'Write a resolution first.');
      input.focus();
      return;
    }
    button.disabled = true;
    context
      .act('POST', `/api/attention/${encodeURIComponent(id)}/resolve`, { resolution })
      .then(
        () => {
          showError(error, '');
          context.announce(`Request #${id} resolved: ${resolution}`);
        },
        (/** @type {unknown} */ failure) =>
          showError(error, `Could not resolve request #${id}: ${context.describe(failure)}`),
      )
      .finally(() => {
        button.disabled = false;
      });
  });
  return el('li', { class: 'item attention', 'data-id': id }, [
    el('p', { class: 'meta', 'data-field': 'meta' }),
    el('p', { class: 'text', 'data-field': 'text' }),
    form,
  ]);
}

/**
 * @param {HTMLElement} item
 * @param {Row} row
 */
function updateAttentionItem(item, row) {
  const meta = item.querySelector('[data-field="meta"]');
  const text = item.querySelector('[data-field="text"]');
  const input = item.querySelector('[data-field="resolution"]');
  if (meta === null || text === null) return;
  const defaultAction = String(row.default_action ?? '');
  setText(
    meta,
    `#${row.id} from ${String(row.agent)} · priority ${row.priority} · expires ${relativeTime(row.expires_at)}` +
      (defaultAction === '' ? '' : ` · then: ${defaultAction}`),
  );
  setText(text, String(row.text ?? ''));
  if (input instanceof HTMLInputElement && defaultAction !== '') input.placeholder = `Empty: ${defaultAction}`;
}

/**
 * @param {Row} row
 * @param {PanelContext} context
 */
function createPlanItem(row, context) {
  const id = String(row.id);
  const reasonId = `plan-${id}-reason`;
  const reason = el('input', { id: reasonId, type: 'text', maxlength: 8000 });
  const approve = el('button', { type: 'button' }, [`Approve plan #${id}`]);
  const reject = el('button', { type: 'button', class: 'danger' }, [`Reject plan #${id}`]);
  const error = el('p', { class: 'error', role: 'alert', hidden: true });
  /** @param {'approve' | 'reject'} decision */
  const decide = (decision) => {
    const why = reason.value.trim();
    if (decision === 'reject' && why === '') {
      showError(error, 'A rejection needs a reason: say what the agent should do instead.');
      reason.focus();
      return;
    }
    approve.disabled = true;
    reject.disabled = true;
    context
      .act('POST', `/api/plans/${encodeURIComponent(id)}/${decision}`, { reason: why })
      .then(
        () => {
          showError(error, '');
          context.announce(`Plan #${id} ${decision === 'approve' ? 'approved' : 'rejected'}.`);
        },
        (/** @type {unknown} */ failure) =>
          showError(error, `Could not ${decision} plan #${id}: ${context.describe(failure)}`),
      )
      .finally(() => {
        approve.disabled = false;
        reject.disabled = false;
      });
  };
  approve.addEventListener('click', () => decide('approve'));
  reject.addEventListener('click', () => decide('reject'));
  return el('li', { class: 'item plan', 'data-id': id }, [
    el('p', { class: 'meta', 'data-field': 'meta' }),
    el('p', { class: 'text', 'data-field': 'text' }),
    el('p', { class: 'meta', 'data-field': 'tools' }),
    el('label', { for: reasonId }, [`Reason for plan #${id} (needed to reject)`]),
    reason,
    el('div', { class: 'form-row' }, [approve, reject]),
    error,
  ]);
}

/**
 * @param {HTMLElement} item
 * @param {Row} row
 */
function updatePlanItem(item, row) {
  const [meta, text, tools] = ['meta', 'text', 'tools'].map((name) => item.querySelector(`[data-field="${name}"]`));
  if (meta == null || text == null || tools == null) return;
  setText(
    meta,
    `#${row.id} from ${String(row.agent)} · cycle ${String(row.cycle_id)} · ${relativeTime(row.created_at)}`,
  );
  setText(text, String(row.text ?? ''));
  const list = Array.isArray(row.tools) ? row.tools.map(String) : [];
  setText(tools, list.length === 0 ? 'Tools: none' : `Tools: ${list.join(', ')}`);
}

/**
 * @param {HTMLElement} element
 * @param {string} message
 */
function showError(element, message) {
  setText(element, message);
  element.hidden = message === '';
}
