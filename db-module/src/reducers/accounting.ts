import { t } from 'spacetimedb';
import { defineReducer } from './define-reducer.ts';
import {
  LIMITS,
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
export const PRIORITY_CLASSES = ['human', 'triage', 'act', 'reflect', 'compaction'] as const;

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

/** Inference accounting is written by the orchestrator (admin) only, so agents cannot forge it. */
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
  },
  (ctx, args) => {
    requireAdmin(ctx, 'record inference usage');
    requireRegisteredAgentName(ctx, 'agent', args.agent);
    requireName('host', args.host);
    requireText('model', args.model, LIMITS.shortTextLength);
    requireOneOf('priority_class', args.priority_class, PRIORITY_CLASSES);
    requireRange('prompt_tokens', args.prompt_tokens, 0, LIMITS.maxTokens);
    requireRange('completion_tokens', args.completion_tokens, 0, LIMITS.maxTokens);
    if (args.task_id !== undefined) requireTask(ctx, args.task_id);
    ctx.db.inference_usage.insert({ id: 0n, ...args, created_at: ctx.timestamp });
  },
);
