import { t } from 'spacetimedb';
import { defineReducer } from './define-reducer.ts';
import { LIMITS, reject, requireAdmin, requireAgent, requireName, requireText } from './guards.ts';
import { dropRunnerOf } from './runners.ts';

/** The module owner (whoever publishes, or the embedded host's admin name) becomes the first admin. */
export const init = defineReducer(
  {},
  (ctx) => {
    if (ctx.db.admin.identity.find(ctx.sender) !== null) return;
    ctx.db.admin.insert({ identity: ctx.sender, name: 'owner', added_at: ctx.timestamp });
  },
  'init',
);

/** Presence: an agent is online while it has at least one open connection. Unknown identities are ignored. */
export const clientConnected = defineReducer(
  {},
  (ctx) => {
    const agent = ctx.db.agent.identity.find(ctx.sender);
    if (agent === null) return;
    ctx.db.agent.name.update({ ...agent, online: true, connections: agent.connections + 1 });
  },
  'client-connected',
);

export const clientDisconnected = defineReducer(
  {},
  (ctx) => {
    const agent = ctx.db.agent.identity.find(ctx.sender);
    if (agent === null) return;
    const connections = Math.max(0, agent.connections - 1);
    ctx.db.agent.name.update({ ...agent, online: connections > 0, connections });
    if (connections === 0) dropRunnerOf(ctx, agent.name);
  },
  'client-disconnected',
);

export const registerAgent = defineReducer(
  { name: t.string(), identity: t.identity(), role: t.string() },
  (ctx, { name, identity, role }) => {
    requireAdmin(ctx, 'register agents');
    requireName('name', name);
    requireText('role', role, LIMITS.shortTextLength);
    if (ctx.db.agent.name.find(name) !== null) reject(`Agent ${name} is already registered`);
    const holder = ctx.db.agent.identity.find(identity);
    if (holder !== null) reject(`Identity ${identity.toHexString()} is already registered as agent ${holder.name}`);
    if (ctx.db.admin.identity.find(identity) !== null) reject('An admin identity cannot be registered as an agent');
    ctx.db.agent.insert({
      name,
      identity,
      role,
      online: false,
      connections: 0,
      status: 'registered',
      last_heartbeat_at: ctx.timestamp,
      registered_at: ctx.timestamp,
    });
  },
);

/** Removes an agent; the tasks it holds go back to the queue so no work is stranded. */
export const unregisterAgent = defineReducer({ name: t.string() }, (ctx, { name }) => {
  requireAdmin(ctx, 'unregister agents');
  const agent = ctx.db.agent.name.find(name);
  if (agent === null) reject(`Agent ${name} is not registered`);
  for (const task of [...ctx.db.task.state.filter('claimed')]) {
    if (task.owner !== name) continue;
    ctx.db.task.id.update({
      ...task,
      state: 'queued',
      owner: undefined,
      lease_expires_at: undefined,
      updated_at: ctx.timestamp,
    });
  }
  ctx.db.agent.name.delete(name);
});

/** An agent reports it is alive and what it is doing. */
export const agentHeartbeat = defineReducer({ status: t.string() }, (ctx, { status }) => {
  const agent = requireAgent(ctx, 'send a heartbeat');
  requireText('status', status, LIMITS.shortTextLength);
  ctx.db.agent.name.update({ ...agent, status, last_heartbeat_at: ctx.timestamp });
});

/** Adds another admin identity (for example a second orchestrator). */
export const addAdmin = defineReducer({ identity: t.identity(), name: t.string() }, (ctx, { identity, name }) => {
  requireAdmin(ctx, 'add admins');
  requireName('name', name);
  if (ctx.db.admin.identity.find(identity) !== null) reject(`Identity ${identity.toHexString()} is already an admin`);
  if (ctx.db.agent.identity.find(identity) !== null) reject('An agent identity cannot be made an admin');
  ctx.db.admin.insert({ identity, name, added_at: ctx.timestamp });
});
