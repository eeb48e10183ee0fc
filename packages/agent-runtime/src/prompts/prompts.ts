/**
 * Prompt builders. Each prompt has a stable prefix (identity, soul, tool guide: the same for every
 * request of the agent, so the inference slot keeps it evaluated) and a per-request part, trimmed to
 * the phase's character budget from agent.json (`contextCharacters`). The newest observations are
 * kept when an act prompt has to be cut.
 */
import type { AgentDefinition } from '@clawfleet/agents';

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

function clip(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, Math.max(0, limit - 15))} [... clipped]`;
}

function fit(parts: string[], budget: number): string {
  const text = parts.join('\n');
  return text.length <= budget ? text : clip(text, budget);
}

export function triagePrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  tasks: readonly TaskSummary[];
  memories: readonly RetrievedMemory[];
  delegates: readonly string[];
}): string {
  const budget = input.agent.model.phases.triage.contextCharacters;
  const memories =
    input.memories.length === 0
      ? '(none)'
      : input.memories.map((memory) => `- [${memory.id}] ${clip(memory.text, 300)}`).join('\n');
  const tasks =
    input.tasks.length === 0
      ? '(none)'
      : input.tasks.map((task) => `- task ${task.id} (${task.state}): ${clip(task.title, 120)}`).join('\n');
  return fit(
    [
      '<|im_start|>user',
      'Decide what to do about this event. Answer in JSON.',
      '- act: you handle it yourself now.',
      `- delegate: another agent should (delegate_to one of: ${input.delegates.join(', ') || 'none'}; message says what to do).`,
      '- defer: look again later (defer_minutes).',
      '- ignore: nothing to do.',
      'priority 0 (lowest) to 9; reason in one sentence; cite the ids of memories you relied on.',
      '',
      `Event:\n${clip(input.trigger, 2000)}`,
      '',
      `Your current tasks:\n${tasks}`,
      '',
      `Memories that may be relevant:\n${memories}`,
      '<|im_end|>',
      '<|im_start|>assistant',
    ],
    budget,
  );
}

export function actPrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  reason: string;
  tools: readonly ToolSummary[];
  observations: readonly Observation[];
  stepsLeft: number;
}): string {
  const budget = input.agent.model.phases.act.contextCharacters;
  const tools = input.tools
    .map(
      (tool) =>
        `- ${tool.name}${tool.sideEffect ? ' (changes things)' : ''}${tool.needsApproval ? ' (needs an approved plan)' : ''}: ${clip(tool.description, 160)}`,
    )
    .join('\n');
  const head = [
    '<|im_start|>user',
    `You decided to act on this event because: ${clip(input.reason, 300)}`,
    `Event:\n${clip(input.trigger, 1500)}`,
    '',
    `Your tools:\n${tools}`,
    '',
    'Each step: either {"action":"tool","tool":NAME,"args":"{...JSON...}"} or {"action":"finish","outcome":"success|partial|failure","summary":"what you did"}.',
    `Steps left: ${input.stepsLeft}.`,
  ];
  const tail = ['<|im_end|>', '<|im_start|>assistant'];
  // Newest observations first in priority: drop the oldest until the prompt fits.
  const observations = input.observations.map(
    (observation) =>
      `step ${observation.step}: ${observation.tool} ${clip(observation.args, 200)} -> ${observation.status}: ${clip(observation.text, 800)}`,
  );
  let kept = observations;
  const size = (lines: string[]) => [...head, 'What happened so far:', ...lines, ...tail].join('\n').length;
  while (kept.length > 0 && size(kept) > budget) kept = kept.slice(1);
  const dropped = observations.length - kept.length;
  return fit(
    [
      ...head,
      'What happened so far:',
      ...(dropped > 0 ? [`(${dropped} earlier steps omitted)`] : []),
      ...(kept.length === 0 ? ['(nothing yet)'] : kept),
      ...tail,
    ],
    budget,
  );
}

export function reflectPrompt(input: {
  agent: AgentDefinition;
  trigger: string;
  decision: string;
  reason: string;
  observations: readonly Observation[];
  ending: string;
}): string {
  const budget = input.agent.model.phases.reflect.contextCharacters;
  const steps = input.observations.map(
    (observation) => `- ${observation.tool} -> ${observation.status}: ${clip(observation.text, 200)}`,
  );
  return fit(
    [
      '<|im_start|>user',
      'Reflect on the cycle that just ended. Answer in JSON: summary (what happened), outcome',
      '(success, partial or failure), lessons (what to do differently), importance 0.0-1.0 (how much',
      'this matters later), up to 4 short tags.',
      '',
      `Event:\n${clip(input.trigger, 1200)}`,
      `Decision: ${input.decision} (${clip(input.reason, 200)})`,
      `Steps:\n${steps.length === 0 ? '(none)' : steps.join('\n')}`,
      `How it ended: ${clip(input.ending, 600)}`,
      '<|im_end|>',
      '<|im_start|>assistant',
    ],
    budget,
  );
}

/** A repair request: the same prompt with what was wrong, asking again. */
export function withRepairNote(prompt: string, problem: string): string {
  const marker = '<|im_end|>\n<|im_start|>assistant';
  const note = `Your previous answer was invalid: ${clip(problem, 300)}. Answer again, in valid JSON.\n`;
  const at = prompt.lastIndexOf(marker);
  return at < 0 ? `${prompt}\n${note}` : `${prompt.slice(0, at)}${note}${prompt.slice(at)}`;
}
