import { ScheduleAt, t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { type AttentionRequestRow, attentionExpirySchedule } from '../tables.ts';
import { defineReducer, type ReducerDefinition } from './define-reducer.ts';
import {
  addSeconds,
  LIMITS,
  reject,
  requireAdmin,
  requireAgent,
  requireDatabase,
  requireRange,
  requireRegisteredAgentName,
  requireText,
} from './guards.ts';
import { fireReactions } from './hooks.ts';

function requireOpenRequest(ctx: ReducerContext, id: bigint): AttentionRequestRow {
  const request = ctx.db.attention_request.id.find(id);
  if (request === null) reject(`Attention request ${id} does not exist`);
  if (request.state !== 'open') reject(`Attention request ${id} is already ${request.state}`);
  return request;
}

/** Validates and inserts an open request for `agent`, scheduling its expiry. */
function insertAttentionRequest(
  ctx: ReducerContext,
  agent: string,
  request: { text: string; priority: number; default_action: string; expires_in_seconds: number },
): void {
  requireText('text', request.text, LIMITS.textLength);
  requireRange('priority', request.priority, 0, LIMITS.maxPriority);
  requireText('default_action', request.default_action, LIMITS.shortTextLength);
  requireRange('expires_in_seconds', request.expires_in_seconds, 1, LIMITS.maxAttentionSeconds);
  const expiresAt = addSeconds(ctx.timestamp, request.expires_in_seconds);
  const row = ctx.db.attention_request.insert({
    id: 0n,
    agent,
    text: request.text,
    priority: request.priority,
    default_action: request.default_action,
    expires_at: expiresAt,
    state: 'open',
    resolution: undefined,
    resolved_by: undefined,
    resolved_at: undefined,
    created_at: ctx.timestamp,
  });
  ctx.db.attention_expiry_schedule.insert({
    scheduled_id: 0n,
    scheduled_at: ScheduleAt.time(expiresAt.microsSinceUnixEpoch),
    attention_request_id: row.id,
  });
}

/** An agent asks a human; if nobody answers before it expires, `default_action` is taken. */
export const requestAttention = defineReducer(
  { text: t.string(), priority: t.u8(), default_action: t.string(), expires_in_seconds: t.u32() },
  (ctx, { text, priority, default_action, expires_in_seconds }) => {
    const agent = requireAgent(ctx, 'request attention');
    insertAttentionRequest(ctx, agent.name, { text, priority, default_action, expires_in_seconds });
  },
);

/**
 * The orchestrator (an admin) raises a request about an agent it supervises, e.g. one that keeps
 * crashing and was given up on. The request is the agent's (`agent` column), so it shows up with
 * the agent's requests and the agent sees it resolved when it runs again.
 */
export const raiseAgentAttention = defineReducer(
  { agent: t.string(), text: t.string(), priority: t.u8(), default_action: t.string(), expires_in_seconds: t.u32() },
  (ctx, { agent, text, priority, default_action, expires_in_seconds }) => {
    requireAdmin(ctx, 'raise attention requests for an agent');
    const target = requireRegisteredAgentName(ctx, 'agent', agent);
    insertAttentionRequest(ctx, target.name, { text, priority, default_action, expires_in_seconds });
  },
);

/** A human answers (through the CLI, which calls as the admin). */
export const resolveAttention = defineReducer(
  { attention_request_id: t.u64(), resolution: t.string() },
  (ctx, { attention_request_id, resolution }) => {
    requireAdmin(ctx, 'resolve attention requests');
    requireText('resolution', resolution, LIMITS.textLength);
    const request = requireOpenRequest(ctx, attention_request_id);
    ctx.db.attention_request.id.update({
      ...request,
      state: 'resolved',
      resolution,
      resolved_by: ctx.sender,
      resolved_at: ctx.timestamp,
    });
  },
);

export const withdrawAttention = defineReducer({ attention_request_id: t.u64() }, (ctx, { attention_request_id }) => {
  const agent = requireAgent(ctx, 'withdraw attention requests');
  const request = requireOpenRequest(ctx, attention_request_id);
  if (request.agent !== agent.name) {
    reject(`Attention request ${attention_request_id} belongs to ${request.agent}; only it may withdraw it`);
  }
  ctx.db.attention_request.id.update({
    ...request,
    state: 'withdrawn',
    resolved_by: ctx.sender,
    resolved_at: ctx.timestamp,
  });
});

/** Scheduled: an unanswered request expires and its default action becomes the resolution. */
export const expireAttentionRequest: ReducerDefinition<{ schedule: typeof attentionExpirySchedule.rowType }> =
  defineReducer(
    { schedule: attentionExpirySchedule.rowType },
    (ctx, { schedule }) => {
      requireDatabase(ctx, 'expire_attention_request');
      const request = ctx.db.attention_request.id.find(schedule.attention_request_id);
      if (request === null || request.state !== 'open') return;
      ctx.db.attention_request.id.update({
        ...request,
        state: 'expired',
        resolution: request.default_action,
        resolved_by: ctx.sender,
        resolved_at: ctx.timestamp,
      });
      fireReactions(ctx, 'attention_expired', {
        kind: 'attention_request',
        id: request.id,
        causedBy: undefined,
        text: `Attention request ${request.id} of ${request.agent} expired unanswered; default action taken: ${request.default_action}`,
      });
    },
    'scheduled',
  );
