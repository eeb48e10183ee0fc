import { identityNameSchema, integerInRange as integer, numberInRange } from '@clawfleet/protocol';
import { z } from 'zod';

/** Names of the loop's phases that call the model. */
export const AGENT_PHASES = ['triage', 'act', 'reflect'] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

/** Tool names as agent-tools registers them: dotted lowercase words (`files.read`, `task.hand_off`). */
const TOOL_NAME = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$/;
const TAG = /^[a-z][a-z0-9_-]*$/;

const toolNameSchema = z
  .string()
  .regex(TOOL_NAME, 'Expected a dotted tool name like `files.read` (lowercase words joined by `.`)');

const tagSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(TAG, 'Expected a tag of lowercase letters, digits, `_` or `-`, starting with a letter');

/** What one phase may spend: the reply length and the prompt budget it is built within. */
const phaseSettingsSchema = z.strictObject({
  /** Upper bound on the reply; the orchestrator's per-agent `maxTokens` caps it again. */
  maxTokens: integer('maxTokens', 16, 65_536),
  /** Characters of context the prompt builder may use for this phase (identity, memories, observations). */
  contextCharacters: integer('contextCharacters', 512, 1_000_000),
});
export type PhaseSettings = z.infer<typeof phaseSettingsSchema>;

const modelSettingsSchema = z.strictObject({
  /** The orchestrator's model id (`models[].id`); `default` means the first configured model. */
  model: z.string().min(1).max(64),
  temperature: numberInRange('temperature', 0, 2),
  /** The most any single request of this agent may generate. */
  maxTokens: integer('maxTokens', 16, 1_048_576),
  phases: z.strictObject({
    triage: phaseSettingsSchema,
    act: phaseSettingsSchema,
    reflect: phaseSettingsSchema,
  }),
});
export type ModelSettings = z.infer<typeof modelSettingsSchema>;

const limitsSchema = z.strictObject({
  /** Act steps (tool calls or the finish) one cycle may take. */
  stepsPerCycle: integer('stepsPerCycle', 1, 100),
  /** Prompt + completion tokens over all inference calls of one cycle. */
  tokensPerCycle: integer('tokensPerCycle', 256, 10_000_000),
  /** Prompt + completion tokens over all cycles within the last hour. */
  tokensPerHour: integer('tokensPerHour', 256, 100_000_000),
  /** The same tool with the same arguments this many times in one cycle stops it. */
  identicalCalls: integer('identicalCalls', 2, 20),
});
export type AgentLimits = z.infer<typeof limitsSchema>;

/**
 * What wakes the agent besides what is addressed to it by name (targeted stimuli, direct messages,
 * @mentions, hand-offs, its own tasks, attention requests and plans): broadcast stimuli of these
 * kinds and unreserved tasks whose title or description carries one of these tags (`#tag`).
 */
const wakeUpSchema = z.strictObject({
  /** Stimulus kinds (as in `create_stimulus.kind`) this agent answers when nobody is targeted; `*` for all. */
  stimulusKinds: z.array(z.string().min(1).max(64)).max(64),
  /** Task tags this agent may claim; `*` for any unreserved task. */
  taskTags: z.array(z.union([tagSchema, z.literal('*')])).max(64),
  /** Seconds between schedule ticks; 0 for none. */
  scheduleSeconds: integer('scheduleSeconds', 0, 7 * 24 * 3_600),
});
export type WakeUpScope = z.infer<typeof wakeUpSchema>;

/** Events a hook (quality gate) runs on. */
export const HOOK_EVENTS = ['task_created', 'task_completed', 'agent_idle'] as const;
/** Events a reaction turns into a stimulus for this agent (fired by the database). */
export const REACTION_EVENTS = ['task_failed', 'task_completed', 'hook_rejected', 'attention_expired'] as const;

const hookNameSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_-]{0,63}$/,
    'Expected a hook name of 1-64 letters, digits, _ or -, starting with a letter',
  );

/**
 * A quality gate. `tool`: run this tool (from the agent's allowlist) with these arguments; the gate
 * rejects when the call fails. `result``result`: the task's result text must match `pattern` (a case-insensitive regular
 * expression); `message` is the reason given when it does not.
 */
const hookCheckSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('tool'), tool: toolNameSchema, args: z.record(z.string(), z.unknown()) }),
  z.strictObject({
    kind: z.literal('result'),
    pattern: z
      .string()
      .min(1)
      .max(500)
      .refine((pattern) => {
        try {
          new RegExp(pattern, 'i');
          return true;
        } catch {
          return false;
        }
      }, 'Expected `pattern` to be a valid regular expression'),
    message: z.string().min(1).max(500),
  }),
]);

const hookSchema = z.strictObject({
  name: hookNameSchema,
  on: z.enum(HOOK_EVENTS),
  check: hookCheckSchema,
});
export type HookDefinition = z.infer<typeof hookSchema>;

const reactionSchema = z.strictObject({
  event: z.enum(REACTION_EVENTS),
  /** Priority of the stimulus the event becomes (0-9). */
  priority: integer('priority', 0, 9),
});
export type ReactionDefinition = z.infer<typeof reactionSchema>;

/**
 * What the agent's container may use (the docker runtime enforces it; the process runtime cannot).
 * Absent fields take the orchestrator's defaults (`agentMemoryMb`, `agentPids`; no network).
 */
const containerSchema = z.strictObject({
  /** Whether the agent may reach the network (its container gets Docker's default bridge). */
  network: z
    .boolean({ error: (issue) => `Expected \`container.network\` to be true or false, got ${typeof issue.input}` })
    .optional(),
  /** Memory limit in MiB. */
  memoryMb: integer('memoryMb', 16, 1_048_576).optional(),
  /** Most processes and threads at once (Node alone uses about a dozen). */
  pids: integer('pids', 8, 1_000_000).optional(),
});
export type ContainerSettings = z.infer<typeof containerSchema>;

export const agentJsonSchema = z.strictObject({
  name: identityNameSchema,
  /** What the agent is for; recorded in the agent table. */
  role: z.string().min(1).max(200),
  /** Tools the agent may call, by name; every other tool is refused before it runs. */
  tools: z.array(toolNameSchema).max(128),
  /**
   * The agent's command list for `command.run`: executable name (bare, looked up on PATH once at
   * start) → the first arguments a call may start with (empty: any). Absent: no commands.
   */
  commands: z
    .record(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'Expected a bare executable name (no path, no shell syntax)'),
      z.array(z.string().min(1).max(64)).max(32),
    )
    .default({}),
  /** Tools whose use needs an approved plan for this agent even if the tool itself does not ask for one. */
  approvalRequiredFor: z.array(toolNameSchema).max(128),
  /** Whether this agent may approve or reject other agents' plans (LeadClaw). */
  approvesPlans: z.boolean(),
  wakeUp: wakeUpSchema,
  model: modelSettingsSchema,
  limits: limitsSchema,
  /** Quality gates this agent runs on its own work. */
  hooks: z.array(hookSchema).max(32),
  /** Events that become stimuli for this agent. */
  reactions: z.array(reactionSchema).max(8),
  /** The agent's container sandbox. @default no network, the orchestrator's limits */
  container: containerSchema.optional(),
});
export type AgentJson = z.infer<typeof agentJsonSchema>;

/** One agent as the runtime sees it: its agent.json and the text of its identity files. */
export interface AgentDefinition extends AgentJson {
  /** The folder it was loaded from. */
  readonly directory: string;
  /** Who the agent is (IDENTITY.md). */
  readonly identity: string;
  /** How it behaves (SOUL.md). */
  readonly soul: string;
  /** How it uses its tools (TOOLS.md). */
  readonly toolsGuide: string;
}
