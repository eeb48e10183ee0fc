// The dashboard page: log in, load every panel's rows, then keep them current from `/events`.

import { ApiError, getRows, isRecord, onUnauthorized, request } from './api.js';
import { byId, setText } from './dom.js';
import { EventStream } from './event-stream.js';
import { agentNames, renderAgents } from './panels/agents.js';
import { renderFlow } from './panels/flow.js';
import { renderInbox } from './panels/inbox.js';
import { wireMemoryBrowser } from './panels/memory.js';
import { renderPool } from './panels/pool.js';
import { renderRecentStimuli, syncAgentOptions, wireStimulusForm } from './panels/stimulus.js';
import { renderTasks } from './panels/tasks.js';
import { normaliseStatus } from './status.js';
import { RowStore } from './store.js';

/**
 * What every panel gets.
 * @typedef {{
 *   store: RowStore,
 *   status: import('./status.js').StatusSnapshot,
 *   usageCountedThrough: number,
 *   act: (method: 'GET' | 'POST', path: string, body: unknown) => Promise<unknown>,
 *   request: typeof request,
 *   getRows: typeof getRows,
 *   describe: (error: unknown) => string,
 *   announce: (text: string) => void,
 * }} PanelContext
 */

/** How often the orchestrator-only facts (supervision, slot pool) are read again. */
const STATUS_POLL_MS = 2000;

/**
 * The rows each panel starts from: route, the key of its list in an object answer, the table.
 * `panel` is where a failed load is reported. Agents and their loop state come with the status.
 */
const LOADS = [
  { path: '/api/tasks', key: 'tasks', table: 'task', panel: 'tasks' },
  { path: '/api/messages?limit=500', key: 'messages', table: 'message', panel: 'flow' },
  { path: '/api/reflections?limit=500', key: 'reflections', table: 'reflection', panel: 'agents' },
  { path: '/api/attention?state=all', key: 'attention', table: 'attention_request', panel: 'inbox' },
  { path: '/api/plans?state=all', key: 'plans', table: 'plan', panel: 'inbox' },
];

/** Open tasks whose dependencies are read at load (one `GET /api/tasks/:id` each); later ones arrive as rows. */
const DEPENDENCY_LOOKUPS = 60;

/** @param {unknown} error */
function describe(error) {
  if (error instanceof ApiError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}

const store = new RowStore();
/** @type {PanelContext} */
const context = {
  store,
  status: { agents: new Map(), pool: undefined, receivedAt: 0 },
  usageCountedThrough: 0,
  act: (method, path, body) => request(method, path, body),
  request,
  getRows,
  describe,
  announce,
};

/** @type {EventStream | undefined} */
let stream;
/** @type {ReturnType<typeof setInterval> | undefined} */
let statusTimer;
let started = false;

/** @param {string} text */
function announce(text) {
  const region = byId('announcer', HTMLElement);
  region.textContent = '';
  // A fresh text node after a tick, so the same words twice are announced twice.
  setTimeout(() => setText(region, text), 50);
}

/**
 * @param {string} panel  the section id
 * @param {string} message  empty to clear
 */
function panelError(panel, message) {
  const element = document.querySelector(`#${panel} .panel-error`);
  if (!(element instanceof HTMLElement)) return;
  setText(element, message);
  element.hidden = message === '';
}

/**
 * @param {import('./event-stream.js').StreamState} state
 * @param {string} detail
 */
function showConnection(state, detail) {
  const connection = byId('connection', HTMLElement);
  connection.dataset.state = state;
  const symbols = { connecting: '…', live: '●', reconnecting: '↻', unauthorized: '✖', stopped: '■' };
  const symbol = connection.querySelector('.connection-symbol');
  if (symbol !== null) setText(symbol, symbols[state]);
  setText(byId('connection-text', HTMLElement), detail);
}

/**
 * Reads the status (supervision, pool, tokens). On a full load it also seeds the agents and their
 * loop state, which `row` and `phase` events keep current from then on (a poll answer may be older
 * than an event that arrived while it was on its way, so polls leave them alone).
 * @param {boolean} [seed]
 */
async function loadStatus(seed = false) {
  const highestUsageId = Math.max(0, ...store.rows('inference_usage').map((row) => Number(row.id) || 0));
  try {
    const body = await request('GET', '/api/status');
    context.status = normaliseStatus(body);
    context.usageCountedThrough = highestUsageId;
    if (seed) seedAgents(body);
    panelError('pool', '');
    render(new Set(['status']));
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return;
    panelError('pool', `Could not read the orchestrator's status: ${describe(error)}`);
  }
}

/**
 * The `agent` and `agent_status` rows from the status answer's agents (`claw status --json`).
 * @param {unknown} body
 */
function seedAgents(body) {
  const agents = isRecord(body) && Array.isArray(body.agents) ? body.agents.filter(isRecord) : [];
  store.replace(
    'agent',
    agents.map((agent) => ({
      ...store.get('agent', String(agent.name)),
      name: agent.name,
      role: agent.role,
      online: agent.online,
      status: agent.status,
      last_heartbeat_at: agent.lastHeartbeatAt,
    })),
  );
  store.replace(
    'agent_status',
    agents
      .filter((agent) => typeof agent.phase === 'string')
      .map((agent) => ({
        agent: agent.name,
        phase: agent.phase,
        progress: agent.progress ?? '',
        queue_length: agent.queueLength ?? 0,
        cycle_id: agent.cycleId ?? null,
        task_id: isRecord(agent.currentTask) ? agent.currentTask.id : null,
        progress_at: agent.lastProgressAt ?? null,
      })),
  );
}

/** The dependencies of open tasks (the task list has none). */
async function loadDependencies() {
  const open = store
    .rows('task')
    .filter((task) => task.state === 'blocked' || task.state === 'queued' || task.state === 'claimed')
    .slice(-DEPENDENCY_LOOKUPS);
  const rows = (
    await Promise.all(
      open.map(async (task) => {
        const detail = await request('GET', `/api/tasks/${encodeURIComponent(String(task.id))}`);
        const dependsOn = isRecord(detail) && Array.isArray(detail.dependsOn) ? detail.dependsOn : [];
        return dependsOn.map((dependency) => ({
          id: `${task.id}-${String(dependency)}`,
          task_id: task.id,
          depends_on_task_id: dependency,
        }));
      }),
    )
  ).flat();
  // Rows from events carry the database id; these carry a made-up one, and both say the same.
  const fromEvents = store.rows('task_dependency').filter((row) => typeof row.id === 'number');
  store.replace('task_dependency', [...fromEvents, ...rows]);
}

/** Loads every panel's rows again (start, `reset`, reconnect without a resume point). */
async function loadAll() {
  const failures = new Map();
  await Promise.all([
    loadStatus(true),
    ...LOADS.map(async (load) => {
      try {
        store.replace(load.table, await getRows(load.path, load.key));
      } catch (error) {
        if (error instanceof ApiError && error.unauthorized) return;
        const previous = failures.get(load.panel);
        failures.set(
          load.panel,
          `${previous === undefined ? '' : `${previous} `}Could not load ${load.key}: ${describe(error)}`,
        );
      }
    }),
  ]);
  try {
    await loadDependencies();
  } catch (error) {
    if (!(error instanceof ApiError && error.unauthorized)) {
      failures.set(
        'tasks',
        `${failures.get('tasks') ?? ''} Could not load task dependencies: ${describe(error)}`.trim(),
      );
    }
  }
  for (const panel of ['agents', 'tasks', 'flow', 'inbox']) panelError(panel, failures.get(panel) ?? '');
}

/** @param {import('./sse-parser.js').ServerSentEvent} event */
function onEvent(event) {
  /** @type {unknown} */
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return; // not one of ours; the stream goes on
  }
  if (typeof data !== 'object' || data === null) return;
  if (event.event === 'row' && 'table' in data && 'op' in data && 'row' in data) {
    const { table, op, row } = data;
    if (typeof table !== 'string' || (op !== 'insert' && op !== 'update' && op !== 'delete')) return;
    if (typeof row !== 'object' || row === null) return;
    store.apply(table, op, /** @type {Record<string, unknown>} */ (row));
  } else if (event.event === 'phase' && 'agent' in data && 'phase' in data) {
    const { agent, phase } = data;
    if (typeof agent !== 'string' || typeof phase !== 'string') return;
    const taskId = 'taskId' in data ? data.taskId : undefined;
    const existing = store.get('agent_status', agent) ?? {};
    store.apply('agent_status', 'update', {
      ...existing,
      agent,
      phase,
      task_id: taskId === undefined ? (existing.task_id ?? null) : taskId,
    });
  }
}

/** @param {ReadonlySet<string>} tables */
function render(tables) {
  const names = agentNames(context);
  // A status poll redraws what shows its figures or a relative time; the flow picture has neither.
  const touches = (/** @type {string[]} */ ...names) => names.some((name) => tables.has(name));
  const polled = tables.has('status');
  if (polled || touches('agent', 'agent_status', 'reflection', 'inference_usage', 'task', 'plan')) {
    renderAgents(byId('agent-cards', HTMLElement), context);
  }
  if (polled || touches('task', 'task_dependency')) renderTasks(byId('task-board', HTMLElement), context);
  if (touches('message', 'task', 'agent')) {
    renderFlow(byId('flow-picture', HTMLElement), byId('recent-messages', HTMLElement), names, context);
  }
  if (polled || touches('inference_usage')) renderPool(byId('pool-view', HTMLElement), context);
  if (polled || touches('attention_request', 'plan')) {
    renderInbox(
      {
        attention: byId('attention-list', HTMLElement),
        attentionSummary: byId('inbox-summary', HTMLElement),
        plans: byId('plan-list', HTMLElement),
        plansSummary: byId('plans-summary', HTMLElement),
        decided: byId('decided-list', HTMLElement),
      },
      context,
    );
  }
  if (touches('stimulus')) renderRecentStimuli(byId('recent-stimuli', HTMLElement), context);
  if (polled || touches('agent')) {
    syncAgentOptions(byId('stimulus-to', HTMLSelectElement), names, 'Any agent (LeadClaw triages)');
    const memoryAgent = byId('memory-agent', HTMLSelectElement);
    const hadAgent = memoryAgent.value !== '';
    syncAgentOptions(memoryAgent, names, '');
    if (!hadAgent && memoryAgent.value !== '') void memory.load();
  }
}

/** @type {{ load: () => Promise<void> }} */
let memory = { load: async () => {} };

function showLogin(message = '') {
  stop();
  byId('dashboard', HTMLElement).hidden = true;
  byId('panel-nav', HTMLElement).hidden = true;
  byId('logout', HTMLButtonElement).hidden = true;
  byId('login', HTMLElement).hidden = false;
  const error = byId('login-error', HTMLElement);
  setText(error, message);
  error.hidden = message === '';
  showConnection('unauthorized', 'Not logged in.');
  byId('login-token', HTMLInputElement).focus();
}

function showDashboard() {
  byId('login', HTMLElement).hidden = true;
  byId('dashboard', HTMLElement).hidden = false;
  byId('panel-nav', HTMLElement).hidden = false;
  byId('logout', HTMLButtonElement).hidden = false;
  if (started) return;
  started = true;
  stream = new EventStream('/events', {
    onEvent,
    onResync: loadAll,
    onState: (state, detail) => {
      showConnection(state, detail);
      if (state === 'unauthorized') showLogin('Your session has ended. Log in again.');
    },
  });
  void stream.run();
  statusTimer = setInterval(() => void loadStatus(), STATUS_POLL_MS);
}

function stop() {
  started = false;
  stream?.stop();
  stream = undefined;
  if (statusTimer !== undefined) clearInterval(statusTimer);
  statusTimer = undefined;
}

/** @param {SubmitEvent} event */
async function logIn(event) {
  event.preventDefault();
  const input = byId('login-token', HTMLInputElement);
  const error = byId('login-error', HTMLElement);
  const token = input.value.trim();
  if (token === '') {
    setText(error, 'Paste the admin token first.');
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  try {
    await request('POST', '/api/login', { token });
    input.value = '';
    input.removeAttribute('aria-invalid');
    error.hidden = true;
    showDashboard();
    byId('main', HTMLElement).focus();
  } catch (failure) {
    input.setAttribute('aria-invalid', 'true');
    setText(
      error,
      failure instanceof ApiError && failure.unauthorized
        ? `That is not this orchestrator's admin token (${failure.message}).`
        : `Could not log in: ${describe(failure)}`,
    );
    error.hidden = false;
    input.focus();
  }
}

async function logOut() {
  try {
    await request('POST', '/api/logout', {});
    showLogin('You are logged out.');
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) showLogin('You are logged out.');
    else announce(`Could not log out: ${describe(error)}`);
  }
}

async function boot() {
  store.subscribe(render);
  onUnauthorized(() => {
    if (started) showLogin('Your session has ended. Log in again.');
  });
  byId('login-form', HTMLFormElement).addEventListener('submit', (event) => void logIn(event));
  byId('logout', HTMLButtonElement).addEventListener('click', () => void logOut());
  wireStimulusForm(
    {
      form: byId('stimulus-form', HTMLFormElement),
      text: byId('stimulus-text', HTMLTextAreaElement),
      to: byId('stimulus-to', HTMLSelectElement),
      priority: byId('stimulus-priority', HTMLSelectElement),
      result: byId('stimulus-result', HTMLElement),
    },
    context,
  );
  memory = wireMemoryBrowser(
    {
      form: byId('memory-form', HTMLFormElement),
      agent: byId('memory-agent', HTMLSelectElement),
      tier: byId('memory-tier', HTMLSelectElement),
      search: byId('memory-search', HTMLInputElement),
      status: byId('memory-status', HTMLElement),
      list: byId('memory-list', HTMLElement),
    },
    context,
  );
  showConnection('connecting', 'Checking the session.');
  try {
    await request('GET', '/api/status');
    showDashboard();
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) showLogin();
    else {
      const page = byId('page-error', HTMLElement);
      setText(page, `The dashboard cannot reach the orchestrator: ${describe(error)}. Reload the page to try again.`);
      page.hidden = false;
      showConnection('stopped', 'Not connected.');
    }
  }
}

void boot();
