import { t } from 'spacetimedb';
import { defineReducer } from './define-reducer.ts';
import {
  isAdmin,
  LIMITS,
  reject,
  requireName,
  requireRange,
  requireRegisteredAgentName,
  requireText,
} from './guards.ts';

/** Something happened that agents may act on: a human message (CLI), a timer, a system event. */
export const createStimulus = defineReducer(
  { source: t.string(), kind: t.string(), text: t.string(), priority: t.u8(), target_agent: t.option(t.string()) },
  (ctx, { source, kind, text, priority, target_agent }) => {
    if (!isAdmin(ctx) && ctx.db.agent.identity.find(ctx.sender) === null) {
      reject('Only an admin or a registered agent may create stimuli');
    }
    requireName('source', source);
    requireName('kind', kind);
    requireText('text', text, LIMITS.textLength);
    requireRange('priority', priority, 0, LIMITS.maxPriority);
    if (target_agent !== undefined) requireRegisteredAgentName(ctx, 'target_agent', target_agent);
    ctx.db.stimulus.insert({
      id: 0n,
      source,
      kind,
      text,
      priority,
      target_agent,
      created_by: ctx.sender,
      created_at: ctx.timestamp,
    });
  },
);
