// The memory browser: one agent's entries by tier (with scope, importance, tags, archived), and
// for each entry its provenance (the tree back to reflections, cycles, stimuli, tool and model
// calls) from `GET /api/memory/entries/:id/provenance`. A server without that route gets a
// message saying so, not an empty box.

import { ApiError, isRecord } from '../api.js';
import { el, replaceChildren, setText, toDate } from '../dom.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 */

const TIER_NAMES = /** @type {Record<string, string>} */ ({ short: 'short-term', daily: 'daily', long: 'long-term' });

/**
 * @param {{ form: HTMLFormElement, agent: HTMLSelectElement, tier: HTMLSelectElement, search: HTMLInputElement, status: HTMLElement, list: HTMLElement }} elements
 * @param {PanelContext} context
 * @returns {{ load: () => Promise<void> }}
 */
export function wireMemoryBrowser(elements, context) {
  let generation = 0;
  const load = async () => {
    const agent = elements.agent.value;
    if (agent === '') {
      setText(elements.status, 'Choose an agent.');
      return;
    }
    const mine = ++generation;
    const query = new URLSearchParams();
    if (elements.tier.value !== '') query.set('tier', elements.tier.value);
    if (elements.search.value.trim() !== '') query.set('search', elements.search.value.trim());
    const suffix = query.size === 0 ? '' : `?${query}`;
    setText(elements.status, `Loading ${agent}'s memory…`);
    elements.status.classList.remove('error');
    try {
      const entries = await context.getRows(`/api/memory/${encodeURIComponent(agent)}${suffix}`, 'entries');
      if (mine !== generation) return;
      const tierWords =
        elements.tier.value === '' ? 'all tiers' : (TIER_NAMES[elements.tier.value] ?? elements.tier.value);
      setText(
        elements.status,
        `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'} of ${agent} (${tierWords}${query.has('search') ? `, matching “${query.get('search')}”` : ''}).`,
      );
      replaceChildren(
        elements.list,
        entries.map((entry) => memoryItem(entry, context)),
      );
    } catch (error) {
      if (mine !== generation) return;
      elements.status.classList.add('error');
      setText(elements.status, `Could not load ${agent}'s memory: ${context.describe(error)}`);
      replaceChildren(elements.list, []);
    }
  };
  elements.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  elements.agent.addEventListener('change', () => void load());
  elements.tier.addEventListener('change', () => void load());
  return { load };
}

/**
 * @param {Row} entry
 * @param {PanelContext} context
 */
function memoryItem(entry, context) {
  const id = String(entry.id);
  const tier = String(entry.tier ?? '');
  const tags = Array.isArray(entry.tags) ? entry.tags.map(String) : [];
  const provenanceId = `memory-${id}-provenance`;
  const toggle = el(
    'button',
    { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': provenanceId },
    [`Provenance of memory #${id}`],
  );
  const provenance = el('div', { id: provenanceId, class: 'provenance', hidden: true, 'aria-live': 'polite' });
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') === 'true';
    toggle.setAttribute('aria-expanded', String(!open));
    provenance.hidden = open;
    if (!open && provenance.dataset.loaded !== 'true') void loadProvenance(id, provenance, context);
  });
  const importance = Number(entry.importance ?? 0);
  // The memory route answers the memory package's entries (camelCase, milliseconds); rows use microseconds.
  const created =
    typeof entry.createdAt === 'number' ? new Date(entry.createdAt) : toDate(entry.created_at ?? entry.createdAt);
  const when = created === undefined ? '' : ` · ${created.toLocaleString([], { hour12: false })}`;
  const score = typeof entry.score === 'number' ? ` · score ${entry.score.toFixed(2)}` : '';
  return el('li', { class: 'item memory-entry', 'data-id': id, 'data-tier': tier }, [
    el('p', { class: 'meta' }, [
      `#${id} · ${TIER_NAMES[tier] ?? tier} · ${String(entry.scope ?? '')} · importance ${importance.toFixed(2)}${when}${score}`,
      entry.archived === true ? ' · archived (compacted)' : '',
    ]),
    el('p', { class: 'text' }, [String(entry.text ?? '')]),
    tags.length === 0
      ? null
      : el(
          'p',
          {},
          tags.map((tag) => el('span', { class: 'tag' }, [tag])),
        ),
    toggle,
    provenance,
  ]);
}

/**
 * @param {string} id
 * @param {HTMLElement} container
 * @param {PanelContext} context
 */
async function loadProvenance(id, container, context) {
  replaceChildren(container, [el('p', { class: 'muted' }, ['Loading provenance…'])]);
  try {
    const tree = await context.request('GET', `/api/memory/entries/${encodeURIComponent(id)}/provenance`);
    container.dataset.loaded = 'true';
    replaceChildren(container, [el('ul', {}, [provenanceNode(tree, 0)])]);
  } catch (error) {
    // 501: this server has no provenance function; 404: no route, or no such entry (the message says which).
    if (error instanceof ApiError && (error.status === 404 || error.status === 501)) {
      replaceChildren(container, [
        el('p', { class: 'notice' }, [
          `Provenance is not available for memory #${id}: ${error.message} (HTTP ${error.status}). It needs an orchestrator that records provenance (docs/provenance.md).`,
        ]),
      ]);
      return;
    }
    replaceChildren(container, [
      el('p', { class: 'error', role: 'alert' }, [`Could not load provenance: ${context.describe(error)}`]),
    ]);
  }
}

const CHILD_KEYS = ['children', 'sources', 'links', 'derivedFrom', 'inputs', 'calls', 'toolCalls', 'inferences'];
const MAX_DEPTH = 12;
/** Levels open at first; deeper ones are one click (or Enter) away. */
const OPEN_LEVELS = 2;
const FIELDS_SHOWN = 8;

/**
 * One node of a provenance tree as `claw why` gives it (`{ kind, id, title, fields, children,
 * repeated?, missing? }`, the answer possibly wrapped in `{ root }`), as a list item: kind, id and
 * title; its fields in words; its sources nested in a disclosure.
 * @param {unknown} node
 * @param {number} depth
 * @returns {HTMLElement}
 */
export function provenanceNode(node, depth) {
  if (isRecord(node) && depth === 0 && isRecord(node.root)) return provenanceNode(node.root, 0);
  if (!isRecord(node)) return el('li', {}, [Array.isArray(node) ? `${node.length} items` : String(node)]);
  const kind = typeof node.kind === 'string' ? node.kind : typeof node.type === 'string' ? node.type : undefined;
  const id = node.id ?? node.targetId ?? node.target_id;
  const title = ['title', 'text', 'summary', 'label']
    .map((key) => node[key])
    .find((value) => typeof value === 'string');
  const head = [kind?.replaceAll('_', ' '), id === undefined ? undefined : `#${String(id)}`].filter(Boolean).join(' ');
  const fields = isRecord(node.fields) ? node.fields : {};
  const details = Object.entries(fields)
    .filter(([, value]) => value !== null && value !== '' && typeof value !== 'object')
    .slice(0, FIELDS_SHOWN)
    .map(([key, value]) => `${key.replaceAll('_', ' ')} ${String(value)}`);
  const marks = [node.repeated === true ? 'shown above' : '', node.missing === true ? 'no longer in the database' : '']
    .filter(Boolean)
    .join(', ');
  /** @type {unknown[]} */
  const children = [];
  for (const key of CHILD_KEYS) {
    const value = node[key];
    if (Array.isArray(value)) children.push(...value);
    else if (isRecord(value)) children.push(value);
  }
  // `claw why` titles already start with the kind and id (`cycle #7 of DevClaw on stimulus:3: act → success`).
  const titled = title !== undefined && head !== '' && title.startsWith(head);
  const line = [
    titled ? '' : el('strong', {}, [head === '' ? 'entry' : head]),
    title === undefined ? '' : titled ? title : `: ${title}`,
    marks === '' ? '' : el('em', {}, [` (${marks})`]),
    details.length === 0 ? '' : el('span', { class: 'muted' }, [` — ${details.join(', ')}`]),
  ];
  if (children.length === 0 || depth >= MAX_DEPTH) return el('li', { 'data-kind': kind ?? '' }, line);
  const disclosure = el('details', { open: depth < OPEN_LEVELS }, [
    el('summary', {}, [
      ...line,
      el('span', { class: 'muted' }, [` (${children.length} source${children.length === 1 ? '' : 's'})`]),
    ]),
    el(
      'ul',
      {},
      children.map((child) => provenanceNode(child, depth + 1)),
    ),
  ]);
  return el('li', { 'data-kind': kind ?? '' }, [disclosure]);
}
