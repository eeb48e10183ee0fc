import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { defineReducer } from './define-reducer.ts';
import { LIMITS, reject, requireAgent, requireRegisteredAgentName, requireText } from './guards.ts';

const MENTION_PATTERN = /@([A-Za-z][A-Za-z0-9_-]*)/g;

/** Registered agents mentioned as `@Name`, each once, in order of appearance. */
export function mentionedAgents(ctx: ReducerContext, text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(MENTION_PATTERN)) {
    const name = match[1];
    if (name !== undefined && !names.includes(name) && ctx.db.agent.name.find(name) !== null) names.push(name);
  }
  return names;
}

/** A direct message when `to_agent` is given, otherwise a broadcast; `@Name` mentions reach those agents too. */
export const sendMessage = defineReducer(
  { to_agent: t.option(t.string()), text: t.string() },
  (ctx, { to_agent, text }) => {
    const sender = requireAgent(ctx, 'send messages');
    requireText('text', text, LIMITS.textLength);
    if (to_agent !== undefined) {
      requireRegisteredAgentName(ctx, 'to_agent', to_agent);
      if (to_agent === sender.name) reject('Cannot send a direct message to oneself');
    }
    ctx.db.message.insert({
      id: 0n,
      kind: to_agent === undefined ? 'broadcast' : 'direct',
      from_agent: sender.name,
      to_agent,
      text,
      mentions: mentionedAgents(ctx, text),
      task_id: undefined,
      created_at: ctx.timestamp,
    });
  },
);
