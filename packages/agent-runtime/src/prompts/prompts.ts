/**
 * Prompt builders. Each prompt has a stable prefix (identity, soul, tool guide: the same for every
 * request of the agent, so the inference slot keeps it evaluated) and a per-request part that must
 * fit the phase's budget (`promptBudget`): the phase's `contextCharacters` from agent.json and, when
 * the model's context size is known, the context minus the phase's max tokens minus the prefix.
 * What does not fit is trimmed lowest value first: the lowest-ranked memories and the oldest
 * observations, then task lists, then the event text (cut with a marker saying how much). The
 * identity and the output instructions are never cut.
 */
import type { AgentDefinition, AgentPhase } from '@clawfleet/agents';

export interface RetrievedMemory {
  id: number;
  text: string;
}

export interface TaskSummary {
  id: number;
  title: string;
  state: string;
}

export interface Observation {
  step: number;
  tool: string;
  args: string;
  /** `ok` or the error code. */
  status: string;
  text: string;
}

export interface ToolSummary {
  name: string;
  description: string;
  sideEffect: boolean;
  needsApproval: boolean;
}

/** The part of every prompt that never changes for an agent. */
export function identityPrefix(agent: AgentDefinition): string {
  return [
    `<|im_start|>system`,
    agent.identity.trim(),
    '',
    agent.soul.trim(),
    '',
    agent.toolsGuide.trim(),
    '<|im_end|>',
    '',
  ].join('\n');
}

/**
 * How large a per-request prompt may be. `bytes` bounds its tokens: every token of a byte-level BPE
 * tokenizer (the generated model's, llama's, qwen's) covers at least one UTF-8 byte, so a text's
 * UTF-8 length is an upper bound on its token count whatever the model.
 */
export interface PromptBudget {
  /** UTF-16 code units (JavaScript `length`): the phase's `contextCharacters`. */
  characters: number;
  /** UTF-8 bytes; absent when the model's context size is unknown. */
  bytes?: number;
}

/** Bytes kept free for a repair note (`withRepairNote`), so a repaired prompt fits too. */
export const REPAIR_NOTE_BYTES = 256;

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * The budget of `phase`'s per-request prompt: its `contextCharacters`, and with `contextTokens` (the
 * model's context per slot) the context minus the tokens the phase may generate, the prefix, a
 * beginning-of-sequence token and room for a repair note.
 */
export function promptBudget(
  agent: AgentDefinition,
  phase: AgentPhase,
  contextTokens: number | undefined,
  prefix: string,
): PromptBudget {
  const settings = agent.model.phases[phase];
  if (contextTokens === undefined) return { characters: settings.contextCharacters };
  const maxTokens = Math.min(settings.maxTokens, agent.model.maxTokens);
  const bytes = contextTokens - maxTokens - utf8Length(prefix) - 1 - REPAIR_NOTE_BYTES;
  return { characters: settings.contextCharacters, bytes: Math.max(0, bytes) };
}

function fits(text: string, budget: PromptBudget): boolean {
  return text.length <= budget.characters && (budget.bytes === undefined || utf8Length(text) <= budget.bytes);
}

/** `text` cut to at most `limit` code units, never inside a surrogate pair. */
function cut(text: string, limit: number): string {
  let end = Math.max(0, limit);
  if (end >= text.length) return text;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

function clip(text: string, limit: number): string {
  return text.length <= limit ? text : `${cut(text, Math.max(0, limit - 15))} [... clipped]`;
}

/** `text` cut to at most `limit` UTF-8 bytes, never inside a character. */
function clipBytes(text: string, limit: number): string {
  if (utf8Length(text) <= limit) return text;
  let kept = cut(text, limit);
  while (utf8Length(kept) > limit) kept = cut(kept, kept.length - Math.max(1, utf8Length(kept) - limit));
  return kept;
}

/**
 * The prompt `build(event)` makes with the event text at most `limit` code units, shortened further
 * until the prompt fits `budget`; a shortened event ends with a marker saying how many characters
 * were left out. Removing k code units removes at least k bytes and k characters, so each round
 * removes at least the overflow. A prompt whose fixed parts alone are too large comes back with the
 * event reduced to its marker (the service then refuses it, and the cycle ends saying why).
 */
function fitEvent(trigger: string, limit: number, build: (event: string) => string, budget: PromptBudget): string {
  const MARKER_ROOM = 40;
  const marked = (kept: string) =>
    kept.length === trigger.length ? kept : `${kept} [... ${trigger.length - kept.length} characters omitted]`;
  let kept = trigger.length <= limit ? trigger : cut(trigger, limit - MARKER_ROOM);
  let text = build(marked(kept));
  while (!fits(text, budget) && kept.length > 0) {
    const over = Math.max(
      text.length - budget.characters,
      budget.bytes === undefined ? 0 : utf8Length(text) - budget.bytes,
    );
    kept = cut(kept, kept.length - over - MARKER_ROOM);
    text = build(marked(kept));
  }
  return text;
}

function defaultBudget(agent: AgentDefinition, phase: AgentPhase): PromptBudget {
  return { characters: agent.model.phases[phase].contextCharacters };
}

export function triagePrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  tasks: readonly TaskSummary[];
  memories: readonly RetrievedMemory[];
  delegates: readonly string[];
  budget?: PromptBudget;
}): string {
  const budget = input.budget ?? defaultBudget(input.agent, 'triage');
  const memoryLines = input.memories.map((memory) => `- [${memory.id}] ${clip(memory.text, 300)}`);
  const taskLines = input.tasks.map((task) => `- task ${task.id} (${task.state}): ${clip(task.title, 120)}`);
  const list = (lines: string[], total: number, what: string) => {
    if (total === 0) return '(none)';
    const omitted = total - lines.length;
    return [...lines, ...(omitted > 0 ? [`(${omitted} ${what} omitted)`] : [])].join('\n');
  };
  let memories = memoryLines;
  let tasks = taskLines;
  const build = (event: string) =>
    [
      '<|im_start|>user',
      'Decide what to do about this event. Answer in JSON.',
      '- act: you handle it yourself now.',
      `- delegate: another agent should (delegate_to one of: ${input.delegates.join(', ') || 'none'}; message says what to do).`,
      '- defer: look again later (defer_minutes).',
      '- ignore: nothing to do.',
      'priority 0 (lowest) to 9; reason in one sentence; cite the ids of memories you relied on.',
      '',
      `Event:\n${event}`,
      '',
      `Your current tasks:\n${list(tasks, taskLines.length, 'more tasks')}`,
      '',
      `Memories that may be relevant:\n${list(memories, memoryLines.length, 'lower-ranked memories')}`,
      '<|im_end|>',
      '<|im_start|>assistant',
    ].join('\n');
  const event = clip(input.trigger, 2000);
  // Lowest value first: the lowest-ranked memories (retrieval returns them best first), then tasks.
  while (memories.length > 0 && !fits(build(event), budget)) memories = memories.slice(0, -1);
  while (tasks.length > 0 && !fits(build(event), budget)) tasks = tasks.slice(0, -1);
  return fitEvent(input.trigger, 2000, build, budget);
}

export function actPrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  reason: string;
  tools: readonly ToolSummary[];
  observations: readonly Observation[];
  stepsLeft: number;
  budget?: PromptBudget;
}): string {
  const budget = input.budget ?? defaultBudget(input.agent, 'act');
  const tools = input.tools
    .map(
      (tool) =>
        `- ${tool.name}${tool.sideEffect ? ' (changes things)' : ''}${tool.needsApproval ? ' (needs an approved plan)' : ''}: ${clip(tool.description, 160)}`,
    )
    .join('\n');
  const observations = input.observations.map(
    (observation) =>
      `step ${observation.step}: ${observation.tool} ${clip(observation.args, 200)} -> ${observation.status}: ${clip(observation.text, 800)}`,
  );
  let kept = observations;
  const build = (event: string) => {
    const dropped = observations.length - kept.length;
    return [
      '<|im_start|>user',
      `You decided to act on this event because: ${clip(input.reason, 300)}`,
      `Event:\n${event}`,
      '',
      `Your tools:\n${tools}`,
      '',
      'Each step: either {"action":"tool","tool":NAME,"args":"{...JSON...}"} or {"action":"finish","outcome":"success|partial|failure","summary":"what you did"}.',
      `Steps left: ${input.stepsLeft}.`,
      'What happened so far:',
      ...(dropped > 0 ? [`(${dropped} earlier steps omitted)`] : []),
      ...(kept.length === 0 ? ['(nothing yet)'] : kept),
      '<|im_end|>',
      '<|im_start|>assistant',
    ].join('\n');
  };
  const event = clip(input.trigger, 1500);
  // Newest observations first in priority: drop the oldest, then shorten the event.
  while (kept.length > 0 && !fits(build(event), budget)) kept = kept.slice(1);
  return fitEvent(input.trigger, 1500, build, budget);
}

export function reflectPrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  decision: string;
  reason: string;
  observations: readonly Observation[];
  ending: string;
  budget?: PromptBudget;
}): string {
  const budget = input.budget ?? defaultBudget(input.agent, 'reflect');
  const steps = input.observations.map(
    (observation) => `- ${observation.tool} -> ${observation.status}: ${clip(observation.text, 200)}`,
  );
  let kept = steps;
  const build = (event: string) => {
    const dropped = steps.length - kept.length;
    return [
      '<|im_start|>user',
      'Reflect on the cycle that just ended. Answer in JSON: summary (what happened), outcome',
      '(success, partial or failure), lessons (what to do differently), importance 0.0-1.0 (how much',
      'this matters later), up to 4 short tags.',
      '',
      `Event:\n${event}`,
      `Decision: ${input.decision} (${clip(input.reason, 200)})`,
      `Steps:\n${steps.length === 0 ? '(none)' : [...(dropped > 0 ? [`(${dropped} earlier steps omitted)`] : []), ...kept].join('\n')}`,
      `How it ended: ${clip(input.ending, 600)}`,
      '<|im_end|>',
      '<|im_start|>assistant',
    ].join('\n');
  };
  const event = clip(input.trigger, 1200);
  while (kept.length > 0 && !fits(build(event), budget)) kept = kept.slice(1);
  return fitEvent(input.trigger, 1200, build, budget);
}

/** A repair request: the same prompt with what was wrong, asking again. */
export function withRepairNote(prompt: string, problem: string): string {
  const marker = '<|im_end|>\n<|im_start|>assistant';
  // At most REPAIR_NOTE_BYTES, the room the prompt budget keeps for it.
  const note = `Your previous answer was invalid: ${clipBytes(clip(problem, 300), REPAIR_NOTE_BYTES - 64)}. Answer again, in valid JSON.\n`;
  const at = prompt.lastIndexOf(marker);
  return at < 0 ? `${prompt}\n${note}` : `${prompt.slice(0, at)}${note}${prompt.slice(at)}`;
}
