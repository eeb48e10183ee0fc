/**
 * The JSON schemas the model answers in, and the checks its answers pass before the loop uses them.
 * The schemas are grammar-friendly (see environment notes): every field required, enums and strings
 * with bounded lengths, numbers as enum strings, no `anyOf`, no unbounded integers. A reply that fits
 * the schema but makes no sense (delegating to an unknown agent, calling a tool that is not allowed,
 * arguments that are not JSON) fails the semantic check and gets one repair attempt.
 */
import { z } from 'zod';

export const TRIAGE_DECISIONS = ['act', 'delegate', 'defer', 'ignore'] as const;
export type TriageDecisionKind = (typeof TRIAGE_DECISIONS)[number];
const PRIORITIES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
/** Deferral choices in minutes. */
export const DEFER_MINUTES = ['0', '5', '15', '60', '240', '1440'] as const;
export const NO_AGENT = 'none';
export const NO_TOOL = 'none';
export const IMPORTANCE_STEPS = ['0.0', '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9', '1.0'] as const;
export const REFLECTION_OUTCOMES = ['success', 'partial', 'failure'] as const;

/**
 * Bounds on the free-text fields, derived from the phase's `maxTokens` so that the longest reply the
 * grammar allows still fits: a model (the generated tiny one in particular) may fill every string to
 * its maximum, and a reply cut at max tokens is malformed. About one token per character, less a
 * margin for the JSON around the strings.
 */
export interface TextBounds {
  reason: number;
  message: number;
  args: number;
  summary: number;
  lessons: number;
  tag: number;
}

export function textBounds(maxTokens: number): TextBounds {
  const budget = Math.max(64, maxTokens - 140);
  const part = (share: number, floor: number, cap: number) =>
    Math.min(cap, Math.max(floor, Math.floor(budget * share)));
  return {
    reason: part(0.35, 24, 600),
    message: part(0.55, 32, 2_000),
    args: part(0.6, 48, 4_000),
    summary: part(0.45, 32, 1_000),
    lessons: part(0.3, 16, 1_000),
    tag: part(0.05, 8, 24),
  };
}

const DEFAULT_BOUNDS = textBounds(512);

export interface TriageDecision {
  decision: TriageDecisionKind;
  priority: number;
  reason: string;
  delegateTo: string | null;
  message: string;
  deferMinutes: number;
  cites: number[];
}

/** Triage: act | delegate | defer | ignore, with the agents it may delegate to and the memories it may cite. */
export function triageJsonSchema(
  delegates: readonly string[],
  memoryIds: readonly number[],
  bounds: TextBounds = DEFAULT_BOUNDS,
): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    decision: { type: 'string', enum: [...TRIAGE_DECISIONS] },
    priority: { type: 'string', enum: [...PRIORITIES] },
    reason: { type: 'string', minLength: 1, maxLength: bounds.reason },
    delegate_to: { type: 'string', enum: [NO_AGENT, ...delegates] },
    message: { type: 'string', maxLength: bounds.message },
    defer_minutes: { type: 'string', enum: [...DEFER_MINUTES] },
  };
  if (memoryIds.length > 0) {
    properties.cites = { type: 'array', items: { type: 'string', enum: memoryIds.map(String) }, maxItems: 3 };
  }
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const triageShape = (bounds: TextBounds) =>
  z.object({
    decision: z.enum(TRIAGE_DECISIONS),
    priority: z.enum(PRIORITIES),
    reason: z.string().min(1).max(bounds.reason),
    delegate_to: z.string(),
    message: z.string().max(bounds.message),
    defer_minutes: z.enum(DEFER_MINUTES),
    cites: z.array(z.string()).max(3).optional(),
  });

/** Checks a triage reply against the schema and against sense; returns the decision or why it is wrong. */
export function parseTriage(
  value: unknown,
  delegates: readonly string[],
  memoryIds: readonly number[],
  bounds: TextBounds = DEFAULT_BOUNDS,
): { ok: true; decision: TriageDecision } | { ok: false; problem: string } {
  const parsed = triageShape(bounds).safeParse(value);
  if (!parsed.success) return { ok: false, problem: describeIssue(parsed.error) };
  const reply = parsed.data;
  const delegateTo = reply.delegate_to === NO_AGENT ? null : reply.delegate_to;
  if (delegateTo !== null && !delegates.includes(delegateTo)) {
    return { ok: false, problem: `delegate_to names ${delegateTo}, who is not an agent you can delegate to` };
  }
  if (reply.decision === 'delegate' && delegateTo === null) {
    return { ok: false, problem: 'decision is delegate but delegate_to is none: name the agent' };
  }
  if (reply.decision === 'delegate' && reply.message.trim().length === 0) {
    return { ok: false, problem: 'decision is delegate but message is empty: say what they should do' };
  }
  if (reply.decision === 'defer' && reply.defer_minutes === '0') {
    return { ok: false, problem: 'decision is defer but defer_minutes is 0: pick when to look again' };
  }
  const cites: number[] = [];
  for (const cite of reply.cites ?? []) {
    const id = Number(cite);
    if (!memoryIds.includes(id)) return { ok: false, problem: `cites memory ${cite}, which was not offered` };
    cites.push(id);
  }
  return {
    ok: true,
    decision: {
      decision: reply.decision,
      priority: Number(reply.priority),
      reason: reply.reason,
      delegateTo,
      message: reply.message,
      deferMinutes: Number(reply.defer_minutes),
      cites,
    },
  };
}

export type ActDecision =
  | { kind: 'tool'; tool: string; args: Record<string, unknown>; argsText: string }
  | { kind: 'finish'; outcome: 'success' | 'partial' | 'failure'; summary: string };

/** One act step: call a tool of the allowlist (arguments as a JSON object in a string) or finish. */
export function actJsonSchema(tools: readonly string[], bounds: TextBounds = DEFAULT_BOUNDS): Record<string, unknown> {
  const properties = {
    action: { type: 'string', enum: ['tool', 'finish'] },
    tool: { type: 'string', enum: [NO_TOOL, ...tools] },
    args: { type: 'string', maxLength: bounds.args },
    outcome: { type: 'string', enum: ['none', ...REFLECTION_OUTCOMES] },
    summary: { type: 'string', maxLength: bounds.summary },
  };
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const actShape = (bounds: TextBounds) =>
  z.object({
    action: z.enum(['tool', 'finish']),
    tool: z.string(),
    args: z.string().max(bounds.args),
    outcome: z.enum(['none', ...REFLECTION_OUTCOMES]),
    summary: z.string().max(bounds.summary),
  });

/**
 * Checks an act reply. A tool outside `tools` is *not* a malformed reply: the loop records it as a
 * refused call and tells the model, so the allowlist refusal is visible in the database.
 */
export function parseAct(
  value: unknown,
  bounds: TextBounds = DEFAULT_BOUNDS,
): { ok: true; decision: ActDecision } | { ok: false; problem: string } {
  const parsed = actShape(bounds).safeParse(value);
  if (!parsed.success) return { ok: false, problem: describeIssue(parsed.error) };
  const reply = parsed.data;
  if (reply.action === 'finish') {
    if (reply.outcome === 'none') return { ok: false, problem: 'action is finish but outcome is none' };
    return { ok: true, decision: { kind: 'finish', outcome: reply.outcome, summary: reply.summary } };
  }
  if (reply.tool === NO_TOOL) return { ok: false, problem: 'action is tool but tool is none: name the tool' };
  let args: unknown;
  try {
    args = reply.args.trim().length === 0 ? {} : JSON.parse(reply.args);
  } catch (error) {
    return { ok: false, problem: `args is not JSON (${(error as Error).message}); write a JSON object` };
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return { ok: false, problem: 'args must be a JSON object like {"path": "README.md"}' };
  }
  return {
    ok: true,
    decision: { kind: 'tool', tool: reply.tool, args: args as Record<string, unknown>, argsText: reply.args },
  };
}

export interface ReflectionDecision {
  summary: string;
  outcome: 'success' | 'partial' | 'failure';
  lessons: string;
  importance: number;
  tags: string[];
}

export function reflectJsonSchema(bounds: TextBounds = DEFAULT_BOUNDS): Record<string, unknown> {
  const properties = {
    summary: { type: 'string', minLength: 1, maxLength: bounds.summary },
    outcome: { type: 'string', enum: [...REFLECTION_OUTCOMES] },
    lessons: { type: 'string', maxLength: bounds.lessons },
    importance: { type: 'string', enum: [...IMPORTANCE_STEPS] },
    tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: bounds.tag }, maxItems: 3 },
  };
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const reflectShape = (bounds: TextBounds) =>
  z.object({
    summary: z.string().min(1).max(bounds.summary),
    outcome: z.enum(REFLECTION_OUTCOMES),
    lessons: z.string().max(bounds.lessons),
    importance: z.enum(IMPORTANCE_STEPS),
    tags: z.array(z.string().max(bounds.tag)).max(3),
  });

/** Tags as the memory schema accepts them: lowercase, `[a-z0-9_.:/-]`, each once. */
export function normaliseTags(tags: readonly string[]): string[] {
  const out: string[] = [];
  for (const tag of tags) {
    const clean = tag
      .toLowerCase()
      .replace(/[^a-z0-9_.:/-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, 24);
    if (clean.length > 0 && !out.includes(clean)) out.push(clean);
  }
  return out;
}

export function parseReflection(
  value: unknown,
  bounds: TextBounds = DEFAULT_BOUNDS,
): { ok: true; decision: ReflectionDecision } | { ok: false; problem: string } {
  const parsed = reflectShape(bounds).safeParse(value);
  if (!parsed.success) return { ok: false, problem: describeIssue(parsed.error) };
  const reply = parsed.data;
  if (reply.summary.trim().length === 0) return { ok: false, problem: 'summary is blank' };
  return {
    ok: true,
    decision: {
      summary: reply.summary.trim(),
      outcome: reply.outcome,
      lessons: reply.lessons.trim(),
      importance: Number(reply.importance),
      tags: normaliseTags(reply.tags),
    },
  };
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  return `${path.length > 0 ? `${path}: ` : ''}${issue?.message ?? 'does not match the schema'}`;
}
