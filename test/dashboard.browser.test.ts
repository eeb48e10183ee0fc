import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BusClient, type BusRow, type BusTableName, EmbeddedBusClient } from '@clawfleet/bus-client';
import { type GenerateRequest, loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { ScriptedInferenceLayer } from '@clawfleet/orchestrator/testing';
import { silentLogger } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The dashboard in real headless Chromium (Debian's, driven by playwright-core) against the real
 * orchestrator: its HTTP API serving the dashboard, the embedded bus, the inference worker on the
 * generated tiny model, and the five agent processes. What a person does: log in (a wrong token
 * first), send a stimulus, watch an agent act and reflect live, answer an attention request,
 * approve a plan, browse memory, and do the stimulus form with the keyboard alone.
 *
 * Where an agent must take one branch, a marker in its stimulus or task lets a
 * `ScriptedInferenceLayer` answer that agent's requests (every other request runs on the model):
 *   [ui-act]   DevClaw acts (its first act step is held until the test has seen it acting),
 *              then reflects REFLECTION
 *   [ui-plan]  DevClaw's task is tagged #needs-approval: writing a file needs an approved plan
 */
const CHROMIUM_CANDIDATES = [process.env.CLAW_CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const chromiumPath = CHROMIUM_CANDIDATES.find(
  (path): path is string => path !== undefined && path !== '' && existsSync(path),
);
if (chromiumPath === undefined) {
  console.warn(
    `[browser tier] SKIPPED: no Chromium at ${CHROMIUM_CANDIDATES.filter(Boolean).join(', ')}; install Debian's \`chromium\` (bash .ci/install-chromium.sh) or set CLAW_CHROMIUM_PATH`,
  );
}

const REFLECTION = 'Wrote the release notes with the heron checklist';
const HOSTILE = '<img src=x onerror="window.__clawPwned=1">';
const SCREENSHOTS = resolve(import.meta.dirname, '..', '.reports', 'screenshots');

let scratch: string;
let orchestrator: Orchestrator;
let admin: BusClient;
let tokens: Record<string, string>;
let browser: Browser;
let page: Page;
let baseUrl: string;
const agentLines: string[] = [];
let planWritesAnswered = 0;
let releaseActStep: () => void = () => {};
const actStepReleased = new Promise<void>((resolve) => {
  releaseActStep = resolve;
});

const props = (request: GenerateRequest) =>
  (request.jsonSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
const agentOf = (request: GenerateRequest) => /You are (\w+),/.exec(request.prefix ?? '')?.[1];
const triageAct = (request: GenerateRequest) =>
  JSON.stringify({
    decision: 'act',
    priority: '5',
    reason: 'scripted act',
    delegate_to: 'none',
    message: '',
    defer_minutes: '0',
    ...('cites' in (props(request) ?? {}) ? { cites: [] } : {}),
  });
const tool = (name: string, args: Record<string, unknown>) =>
  JSON.stringify({ action: 'tool', tool: name, args: JSON.stringify(args), outcome: 'none', summary: '' });
const finish = (summary: string) =>
  JSON.stringify({ action: 'finish', tool: 'none', args: '', outcome: 'success', summary });
const reflect = (summary: string) =>
  JSON.stringify({ summary, outcome: 'success', lessons: 'none', importance: '0.8', tags: ['ui'] });

function script(request: GenerateRequest): string | undefined | Promise<string | undefined> {
  const properties = props(request);
  if (properties === undefined || agentOf(request) !== 'DevClaw') return undefined;
  const phase =
    'decision' in properties
      ? 'triage'
      : 'action' in properties
        ? 'act'
        : 'lessons' in properties
          ? 'reflect'
          : undefined;
  const { prompt } = request;
  const firstStep = prompt.includes('(nothing yet)');
  if (prompt.includes('[ui-act]')) {
    if (phase === 'triage') return triageAct(request);
    if (phase === 'act' && firstStep) {
      return actStepReleased.then(() => tool('files.write', { path: 'notes.txt', content: 'release notes\n' }));
    }
    if (phase === 'act') return finish('wrote notes.txt');
    if (phase === 'reflect') return reflect(REFLECTION);
  }
  if (prompt.includes('[ui-plan]')) {
    if (phase === 'triage') return triageAct(request);
    // The first write is parked for approval, the second (after it) runs, then the task is done.
    if (phase === 'act' && planWritesAnswered < 2) {
      planWritesAnswered += 1;
      return tool('files.write', { path: 'plan.txt', content: 'approved\n' });
    }
    if (phase === 'act') return finish('wrote plan.txt after approval and checked it'); // DevClaw's hook wants a check named
    if (phase === 'reflect') return reflect('Wrote plan.txt once the plan was approved');
  }
  return undefined;
}

const rows = (table: BusTableName) => admin.rows(table) as unknown as BusRow[];

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${agentLines.slice(-30).join('\n')}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** Waits until the locator's text matches, and says what it was when it never did. */
async function expectText(locator: Locator, pattern: RegExp, timeoutMs = 90_000): Promise<string> {
  await expect
    .poll(async () => (await locator.textContent()) ?? '', { timeout: timeoutMs, interval: 100 })
    .toMatch(pattern);
  return (await locator.textContent()) ?? '';
}

/** The whole page, or one panel (`#agents`), as a test artifact in .reports/screenshots/. */
async function screenshot(name: string, panel?: string): Promise<void> {
  const path = join(SCREENSHOTS, `${name}.png`);
  if (panel === undefined) await page.screenshot({ path, fullPage: true });
  else await page.locator(panel).screenshot({ path });
}

const card = (agent: string) =>
  page.locator('#agent-cards > li', { has: page.getByRole('heading', { name: agent, exact: true }) });

describe.skipIf(chromiumPath === undefined)('the dashboard in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    scratch = mkdtempSync(join(tmpdir(), 'claw-dashboard-'));
    const modelPath = join(scratch, 'tiny.gguf');
    await writeTinyModel(modelPath);
    const config = loadConfig(
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CLAW_DATA_DIR: join(scratch, 'data'),
        CLAW_MODEL_PATH: modelPath,
        CLAW_SLOTS: '2',
        CLAW_THREADS: '1',
        CLAW_GPU: 'cpu',
        CLAW_DRAIN_TIMEOUT_MS: '5000',
        CLAW_HTTP_PORT: '0',
      },
      scratch,
    );
    orchestrator = await Orchestrator.start(config, silentLogger, {
      inferenceBackend: (worker) => new ScriptedInferenceLayer(worker, script),
      onAgentOutput: (agent, _stream, line) => agentLines.push(`${agent}: ${line}`),
    });
    baseUrl = httpUrlOf(orchestrator);
    tokens = JSON.parse(readFileSync(config.tokensPath, 'utf8')) as Record<string, string>;
    admin = await EmbeddedBusClient.connect({
      socketPath: config.socketPath,
      name: 'cli',
      token: tokens.cli as string,
    });
    await admin.subscribe(
      ['stimulus', 'task', 'cycle', 'reflection', 'attention_request', 'plan', 'agent_status'].map(
        (table) => `SELECT * FROM ${table as BusTableName}` as const,
      ),
    ).ready;
    await until('five agents reporting status', () => rows('agent_status').length === 5);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => agentLines.push(`page error: ${error.message}`));
  });

  afterAll(async () => {
    releaseActStep();
    await browser?.close();
    await admin?.dispose();
    await orchestrator?.stop();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it('sends a person without a session to the login page, says a wrong token is wrong, and lets the right one in', async () => {
    await page.goto(`${baseUrl}/`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
    const token = page.getByLabel('Admin token');
    await token.fill('not-the-token-at-all');
    await token.press('Enter');
    await expectText(page.getByRole('alert'), /wrong admin token/i, 15_000);
    await screenshot('login-wrong-token');

    await token.fill(tokens.cli as string);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => new URL(page.url()).pathname).toBe('/');
    await expect.poll(() => page.locator('#agent-cards > li').count(), { timeout: 30_000 }).toBe(5);
    await expectText(page.locator('#connection'), /Live/, 30_000);
    for (const agent of ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw']) {
      await expectText(card(agent), /Process\s*running/, 30_000);
    }
  });

  it('sends a stimulus, shows DevClaw acting and then its reflection, live, and shows markup in a stimulus as text', async () => {
    await page.getByLabel('What should the agents do or know?').fill(`[ui-act] write the release notes ${HOSTILE}`);
    await page.getByLabel('To', { exact: true }).selectOption('DevClaw');
    await page.getByLabel('Priority (0 low – 9 urgent)').selectOption('7');
    await page.getByRole('button', { name: 'Send stimulus' }).click();
    const sent = await expectText(
      page.locator('#stimulus-result'),
      /Stimulus #\d+ sent to DevClaw with priority 7/,
      15_000,
    );
    const stimulusId = Number(/#(\d+)/.exec(sent)?.[1]);
    expect(rows('stimulus').find((row) => row.id === stimulusId)).toMatchObject({
      target_agent: 'DevClaw',
      priority: 7,
      text: `[ui-act] write the release notes ${HOSTILE}`,
    });

    // The act step is held: the card must show the phase while it lasts, without a reload.
    try {
      await expectText(card('DevClaw').locator('.phase'), /acting/);
      await screenshot('agent-acting');
      await screenshot('panel-agents-acting', '#agents');
    } finally {
      releaseActStep();
    }
    await expectText(card('DevClaw'), new RegExp(REFLECTION));

    // The hostile stimulus is on the page as text, and nothing it contained ran or became an element.
    const recent = page.locator('#recent-stimuli');
    await expectText(recent, /<img src=x onerror="window\.__clawPwned=1">/, 15_000);
    expect(await page.locator('#recent-stimuli img, #agent-cards img, main img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __clawPwned?: number }).__clawPwned)).toBeUndefined();
    await screenshot('agent-reflected');
  });

  it('shows an attention request as it arrives and resolves it with the button', async () => {
    const ops = await EmbeddedBusClient.connect({
      socketPath: orchestrator.config.socketPath,
      name: 'OpsClaw',
      token: tokens.OpsClaw as string,
    });
    try {
      await ops.callReducer('request_attention', {
        text: 'Disk at 91% on /var: may I delete old logs? <b>now</b>',
        priority: 8,
        default_action: 'keep the logs',
        expires_in_seconds: 3600,
      });
    } finally {
      await ops.dispose();
    }
    const request = await until('the attention request', () =>
      rows('attention_request').find((row) => String(row.text).startsWith('Disk at 91%')),
    );
    const item = page.locator('#attention-list > li', { hasText: 'Disk at 91%' });
    await expectText(item, /from OpsClaw · priority 8/, 30_000);
    await expectText(page.locator('#inbox-summary'), /1 open request/);
    await screenshot('attention-open');
    await screenshot('panel-inbox-attention', '#inbox');

    await page.getByLabel(`Resolution for request #${request.id}`).fill('Delete logs older than 30 days');
    await page.getByRole('button', { name: `Resolve request #${request.id}` }).click();
    await expect.poll(() => item.count(), { timeout: 30_000 }).toBe(0);
    await expectText(page.locator('#inbox-summary'), /No agent is waiting for you/);
    expect(rows('attention_request').find((row) => row.id === request.id)).toMatchObject({
      state: 'resolved',
      resolution: 'Delete logs older than 30 days',
    });
    await expectText(page.locator('#decided-list'), /resolved: Delete logs older than 30 days/);
  });

  it('shows a plan waiting for approval and approves it, after which the agent carries it out', async () => {
    await admin.callReducer('create_task', {
      title: '[ui-plan] write plan.txt #needs-approval',
      description: 'A file the plan must be approved for',
      priority: 6,
      depends_on: [],
      stimulus_id: null,
      reserved_for: 'DevClaw',
    });
    const plan = await until('the plan', () =>
      rows('plan').find((row) => row.agent === 'DevClaw' && row.state === 'pending'),
    );
    const item = page.locator('#plan-list > li', { hasText: `#${plan.id} from DevClaw` });
    await expectText(item, /Tools: files\.write/, 30_000);
    await expectText(card('DevClaw'), new RegExp(`Waiting\\s*plan #${plan.id} awaiting approval`));
    await expectText(page.locator('#task-board'), /Claimed \(1\)[\s\S]*\[ui-plan\] write plan\.txt/);
    await screenshot('plan-waiting');
    await screenshot('panel-inbox-plan', '#inbox');
    await screenshot('panel-tasks', '#tasks');

    await page.getByRole('button', { name: `Approve plan #${plan.id}` }).click();
    await expect.poll(() => item.count(), { timeout: 30_000 }).toBe(0);
    await until('the approved plan carried out', () =>
      rows('task').find((row) => String(row.title).startsWith('[ui-plan]') && row.state === 'completed'),
    );
    await expectText(page.locator('#task-board'), /Completed \([1-9]\d*\)[\s\S]*\[ui-plan\] write plan\.txt/);
    expect(rows('plan').find((row) => row.id === plan.id)).toMatchObject({ state: 'approved', decided_by: 'admin' });
  });

  it("browses DevClaw's memory by tier and shows an entry's provenance back to the stimulus", async () => {
    await page.getByLabel('Agent', { exact: true }).selectOption('DevClaw');
    await page.getByLabel('Tier').selectOption('daily');
    await page.getByRole('button', { name: 'Show memory' }).click();
    const entry = page.locator('#memory-list > li', { hasText: REFLECTION });
    await expectText(entry, /daily · private/, 30_000);
    await expectText(page.locator('#memory-status'), /entr(y|ies) of DevClaw \(daily\)/);
    await entry.getByRole('button', { name: /Provenance of memory/ }).click();
    const provenance = entry.locator('.provenance');
    // The tree from the entry back to the reflection, its cycle and the stimulus that started it (the
    // stimulus text a person typed, shown as text).
    await expectText(provenance, /reflection #\d+/, 30_000);
    await expectText(provenance, /cycle #\d+/);
    await expectText(provenance, /stimulus #\d+ \(\w+ from http\): \[ui-act\] write the release notes/);
    expect(await provenance.locator('img').count()).toBe(0);
    await screenshot('memory-provenance');
    await screenshot('panel-memory', '#memory');
  });

  it('draws the message flow between agents, mentions included', async () => {
    const lead = await EmbeddedBusClient.connect({
      socketPath: orchestrator.config.socketPath,
      name: 'LeadClaw',
      token: tokens.LeadClaw as string,
    });
    try {
      await lead.callReducer('send_message', { to_agent: 'DevClaw', text: 'Ship it after @UXClaw has looked' });
    } finally {
      await lead.dispose();
    }
    const direct = page.locator(
      '#flow-picture g.edge-group[data-from="LeadClaw"][data-to="DevClaw"][data-kind="direct"]',
    );
    await expect.poll(() => direct.count(), { timeout: 30_000 }).toBe(1);
    expect(await direct.locator('title').textContent()).toMatch(/LeadClaw → DevClaw: \d+ messages/);
    const mention = page.locator(
      '#flow-picture g.edge-group[data-from="LeadClaw"][data-to="UXClaw"][data-kind="mention"]',
    );
    await expect.poll(() => mention.count()).toBe(1);
    await expectText(page.locator('#recent-messages'), /LeadClaw → DevClaw: Ship it after @UXClaw has looked/);
    await page.locator('#flow').scrollIntoViewIfNeeded();
    await screenshot('overview');
    await screenshot('panel-flow', '#flow');
    await screenshot('panel-pool', '#pool');
  });

  it('lets a keyboard alone send a stimulus, with the focus visible on every control', async () => {
    await page.goto(`${baseUrl}/`);
    await expect.poll(() => page.locator('#agent-cards > li').count(), { timeout: 30_000 }).toBe(5);
    // Every visible control has a name a screen reader can say, and the page has its landmarks.
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))
        .filter((control) => control.offsetParent !== null)
        .filter((control) => {
          const labels = (control as HTMLInputElement).labels;
          const named = (labels !== null && labels.length > 0) || control.getAttribute('aria-label') !== null;
          return !named && !(control.tagName === 'BUTTON' && (control.textContent ?? '').trim() !== '');
        })
        .map((control) => control.outerHTML.slice(0, 120)),
    );
    expect(unnamed).toEqual([]);
    for (const role of ['banner', 'navigation', 'main'] as const) expect(await page.getByRole(role).count()).toBe(1);
    expect(await page.locator('section.panel:not([hidden]) > h2').count()).toBe(7);
    const text = page.getByLabel('What should the agents do or know?');
    // Tab from the top of the page until the stimulus text has the focus.
    let reached = false;
    for (let presses = 0; presses < 200 && !reached; presses++) {
      await page.keyboard.press('Tab');
      reached = await text.evaluate((element) => element === document.activeElement);
    }
    expect(reached, 'the stimulus text is reachable with Tab').toBe(true);
    await page.keyboard.type('Keyboard-only check of the disks');
    const focusOutline = () =>
      page.evaluate(() => {
        const active = document.activeElement;
        return active === null ? 'none' : getComputedStyle(active).outlineStyle;
      });
    expect(await focusOutline()).not.toBe('none');
    await page.keyboard.press('Tab'); // To
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('stimulus-to');
    expect(await focusOutline()).not.toBe('none');
    await page.keyboard.type('OpsClaw');
    await page.keyboard.press('Tab'); // Priority
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('stimulus-priority');
    await page.keyboard.type('9');
    await page.keyboard.press('Tab'); // Send
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Send stimulus');
    expect(await focusOutline()).not.toBe('none');
    await screenshot('keyboard-focus');
    await page.keyboard.press('Enter');
    await expectText(page.locator('#stimulus-result'), /Stimulus #\d+ sent to OpsClaw with priority 9/, 15_000);
    await until('the keyboard stimulus', () =>
      rows('stimulus').find(
        (row) =>
          row.text === 'Keyboard-only check of the disks' && row.target_agent === 'OpsClaw' && row.priority === 9,
      ),
    );
  });

  it('pauses and resumes an agent with its button', async () => {
    await page.getByRole('button', { name: 'Pause UXClaw' }).click();
    await expectText(card('UXClaw'), /Process\s*paused/, 60_000);
    expect(orchestrator.agents?.status().find((entry) => entry.agent === 'UXClaw')?.state).toBe('paused');
    await page.getByRole('button', { name: 'Resume UXClaw' }).click();
    await expectText(card('UXClaw'), /Process\s*running/, 60_000);
    expect(orchestrator.agents?.status().find((entry) => entry.agent === 'UXClaw')?.state).toBe('running');
  });

  it('says so in words when an empty stimulus is sent or the session ends, and lets the person log in again in place', async () => {
    await page.getByLabel('What should the agents do or know?').fill('   ');
    await page.getByRole('button', { name: 'Send stimulus' }).click();
    await expectText(page.locator('#stimulus-result'), /Write what the agents should do or know first/, 5_000);

    // The session cookie disappears (rotated token, expired cookie): the next action is refused by the
    // server, and the page asks for the token instead of showing stale panels or nothing.
    await page.context().clearCookies();
    await page.getByLabel('What should the agents do or know?').fill('This one is refused');
    await page.getByRole('button', { name: 'Send stimulus' }).click();
    await expectText(page.locator('#login-error'), /session has ended/i, 15_000);
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    expect(rows('stimulus').some((row) => row.text === 'This one is refused')).toBe(false);
    await page.getByLabel('Admin token').fill(tokens.cli as string);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.locator('#dashboard').isVisible(), { timeout: 15_000 }).toBe(true);
    await expectText(page.locator('#connection'), /Live/, 30_000);
  });

  it('logs out', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await expectText(page.locator('#login-error'), /logged out/i, 15_000);
    expect(await page.getByLabel('Admin token').isVisible()).toBe(true);
    // The cookie is gone: the API refuses, the page does not show stale panels.
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    const status = await page.evaluate(async () => (await fetch('/api/status')).status);
    expect(status).toBe(401);
  });
});

/** The HTTP API's base URL on a started orchestrator. */
function httpUrlOf(started: Orchestrator): string {
  const { http } = started;
  if (http === undefined) throw new Error('The orchestrator started no HTTP API (CLAW_HTTP_PORT)');
  return http.url;
}
