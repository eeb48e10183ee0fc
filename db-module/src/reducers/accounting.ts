import type { InferencePriority } from '@clawfleet/protocol';
import { t } from 'spacetimedb';
import { defineReducer } from './define-reducer.ts';
import {
  LIMITS,
  reject,
  requireAdmin,
  requireAgent,
  requireMaxLength,
  requireName,
  requireOneOf,
  requireRange,
  requireRegisteredAgentName,
  requireTask,
  requireText,
} from './guards.ts';

export const ACTION_OUTCOMES = ['ok', 'error', 'denied'] as const;
/**
 * The inference priority classes, whose source is `INFERENCE_PRIORITIES` of @clawfleet/protocol (the
 * wire contract). Written out because the module bundle must not import protocol's runtime; a member
 * protocol lacks fails here, one this list lacks fails priority-classes.test.ts, both at compile time.
 */
export const PRIORITY_CLASSES = [
  'human',
  'triage',
  'act',
  'reflect',
  'compaction',
] as const satisfies readonly InferencePriority[];

/** An agent records an action it took (a tool call); always as itself. */
export const logAction = defineReducer(
  { task_id: t.option(t.u64()), action: t.string(), input: t.string(), outcome: t.string(), detail: t.string() },
  (ctx, { task_id, action, input, outcome, detail }) => {
    const agent = requireAgent(ctx, 'log actions');
    requireName('action', action);
    requireMaxLength('input', input, LIMITS.textLength);
    requireOneOf('outcome', outcome, ACTION_OUTCOMES);
    requireMaxLength('detail', detail, LIMITS.textLength);
    if (task_id !== undefined) requireTask(ctx, task_id);
    ctx.db.action_log.insert({
      id: 0n,
      agent: agent.name,
      task_id,
      action,
      input,
      outcome,
      detail,
      created_at: ctx.timestamp,
    });
  },
);

export const INFERENCE_METHODS = ['generate', 'structured', 'embed'] as const;
export const INFERENCE_OUTCOMES = ['ok', 'failed', 'cancelled'] as const;
const ERROR_CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Inference accounting is written by the orchestrator (admin) only, so agents cannot forge it. One
 * row per request, whatever its outcome: `outcome` with `error_code` tells a failed or cancelled
 * request from a good one, and `request_id` joins the row with the request's log lines.
 */
export const recordInference = defineReducer(
  {
    agent: t.string(),
    host: t.string(),
    model: t.string(),
    priority_class: t.string(),
    prompt_tokens: t.u32(),
    completion_tokens: t.u32(),
    duration_ms: t.u32(),
    task_id: t.option(t.u64()),
    request_id: t.string(),
    method: t.string(),
    outcome: t.string(),
    error_code: t.option(t.string()),
    cached_prompt_tokens: t.u32(),
    queued_ms: t.u32(),
  },
  (ctx, args) => {
    requireAdmin(ctx, 'record inference usage');
    requireRegisteredAgentName(ctx, 'agent', args.agent);
    requireName('host', args.host);
    requireText('model', args.model, LIMITS.shortTextLength);
    requireOneOf('priority_class', args.priority_class, PRIORITY_CLASSES);
    requireRange('prompt_tokens', args.prompt_tokens, 0, LIMITS.maxTokens);
    requireRange('completion_tokens', args.completion_tokens, 0, LIMITS.maxTokens);
    requireRange('cached_prompt_tokens', args.cached_prompt_tokens, 0, args.prompt_tokens);
    if (args.queued_ms > args.duration_ms) {
      reject(`Expected \`queued_ms\` to be at most \`duration_ms\` (${args.duration_ms}), got ${args.queued_ms}`);
    }
    if (!REQUEST_ID_PATTERN.test(args.request_id)) {
      reject(`Expected \`request_id\` to be a lowercase UUID, got ${JSON.stringify(args.request_id.slice(0, 80))}`);
    }
    requireOneOf('method', args.method, INFERENCE_METHODS);
    requireOneOf('outcome', args.outcome, INFERENCE_OUTCOMES);
    if (args.outcome === 'ok' && args.error_code !== undefined) {
      reject('Expected no `error_code` when `outcome` is ok');
    }
    if (args.outcome !== 'ok' && args.error_code === undefined) {
      reject(`Expected an \`error_code\` when \`outcome\` is ${args.outcome}`);
    }
    if (args.error_code !== undefined && !ERROR_CODE_PATTERN.test(args.error_code)) {
      reject(
        `Expected \`error_code\` to be an UPPER_SNAKE error code, got ${JSON.stringify(args.error_code.slice(0, 80))}`,
      );
    }
    if (args.task_id !== undefined) requireTask(ctx, args.task_id);
    ctx.db.inference_usage.insert({ id: 0n, ...args, created_at: ctx.timestamp });
  },
);
