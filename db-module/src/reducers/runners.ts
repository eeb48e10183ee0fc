/**
 * One running loop per agent. Two processes authenticated as the same agent (a second copy started by
 * hand, a benchmark driving its own loop next to the orchestrator's agent, a container left behind)
 * would otherwise take the same triggers and run the same cycles, each refusing the other's steps.
 * A loop claims `agent_runner` at start with a session id of its own and renews the lease while it
 * runs; a claim by another session is refused while the lease is live. The row goes when the agent's
 * last connection closes (see `client_disconnected`), so a killed process frees it at once.
 */
import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { defineReducer } from './define-reducer.ts';
import { addSeconds, reject, requireAgent, requireRange } from './guards.ts';

/** Bounds of a runner lease: short enough that a stalled instance is replaced, long enough to renew. */
export const RUNNER_LEASE_SECONDS = { min: 2, max: 600 } as const;
const SESSION_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

function requireSession(session: string): void {
  if (!SESSION_PATTERN.test(session)) {
    reject(
      `Expected \`session\` to be 8-64 letters, digits, _ or -, got \`${session.slice(0, 40)}\` (${session.length} characters)`,
    );
  }
}

function isoOf(micros: bigint): string {
  return new Date(Number(micros / 1_000n)).toISOString();
}

/** Claims (or renews) the calling agent's runner lease for `session`. */
export const claimAgentRunner = defineReducer(
  { session: t.string(), lease_seconds: t.u32() },
  (ctx, { session, lease_seconds }) => {
    const agent = requireAgent(ctx, 'claim its runner');
    requireSession(session);
    requireRange('lease_seconds', lease_seconds, RUNNER_LEASE_SECONDS.min, RUNNER_LEASE_SECONDS.max);
    const existing = ctx.db.agent_runner.agent.find(agent.name);
    const now = ctx.timestamp.microsSinceUnixEpoch;
    if (existing !== null && existing.session !== session && existing.lease_expires_at.microsSinceUnixEpoch > now) {
      reject(
        `Agent ${agent.name} is already running (session ${existing.session}, since ${isoOf(existing.started_at.microsSinceUnixEpoch)}, lease until ${isoOf(existing.lease_expires_at.microsSinceUnixEpoch)}); one loop per agent`,
      );
    }
    const row = {
      agent: agent.name,
      session,
      started_at: existing !== null && existing.session === session ? existing.started_at : ctx.timestamp,
      lease_expires_at: addSeconds(ctx.timestamp, lease_seconds),
    };
    if (existing === null) ctx.db.agent_runner.insert(row);
    else ctx.db.agent_runner.agent.update(row);
  },
);

/** Gives the lease up (a loop that stops); a lease held by another session is left alone. */
export const releaseAgentRunner = defineReducer({ session: t.string() }, (ctx, { session }) => {
  const agent = requireAgent(ctx, 'release its runner');
  requireSession(session);
  const existing = ctx.db.agent_runner.agent.find(agent.name);
  if (existing === null) return;
  if (existing.session !== session) reject(`Agent ${agent.name}'s runner is held by another session`);
  ctx.db.agent_runner.agent.delete(agent.name);
});

/** With no connection left, no loop of the agent can be running: its lease goes. */
export function dropRunnerOf(ctx: ReducerContext, agent: string): void {
  ctx.db.agent_runner.agent.delete(agent);
}
