/**
 * The SpacetimeDB entry: registers the tables, the reducers of reducer-catalog.ts and the views.
 * Every named export must be a SpacetimeDB export (registration fails otherwise), and each export's
 * name is the reducer or view name clients use. Bundled by scripts/build-module.ts.
 */
import type { Identity } from 'spacetimedb';
import { type ModuleExport, schema, t } from 'spacetimedb/server';
import { reducerCatalog as reducers } from './reducer-catalog.ts';
import {
  agentWakeSchedule,
  attentionExpirySchedule,
  memoryCompaction,
  memoryEntry,
  memoryLink,
  message,
  type Tables,
  tables,
  taskLeaseSchedule,
} from './tables.ts';
import { canSeeMemory, canSeeMemoryCompaction, canSeeMessage, type Viewer } from './visibility.ts';

const spacetimedb: ReturnType<typeof schema<Tables>> = schema(tables);
export default spacetimedb;

export const init: ModuleExport = spacetimedb.init(reducers.init.run);
export const client_connected: ModuleExport = spacetimedb.clientConnected(reducers.client_connected.run);
export const client_disconnected: ModuleExport = spacetimedb.clientDisconnected(reducers.client_disconnected.run);

export const register_agent: ModuleExport = spacetimedb.reducer(
  reducers.register_agent.params,
  reducers.register_agent.run,
);
export const unregister_agent: ModuleExport = spacetimedb.reducer(
  reducers.unregister_agent.params,
  reducers.unregister_agent.run,
);
export const add_admin: ModuleExport = spacetimedb.reducer(reducers.add_admin.params, reducers.add_admin.run);
export const agent_heartbeat: ModuleExport = spacetimedb.reducer(
  reducers.agent_heartbeat.params,
  reducers.agent_heartbeat.run,
);
export const create_stimulus: ModuleExport = spacetimedb.reducer(
  reducers.create_stimulus.params,
  reducers.create_stimulus.run,
);
export const create_task: ModuleExport = spacetimedb.reducer(reducers.create_task.params, reducers.create_task.run);
export const claim_task: ModuleExport = spacetimedb.reducer(reducers.claim_task.params, reducers.claim_task.run);
export const extend_task_lease: ModuleExport = spacetimedb.reducer(
  reducers.extend_task_lease.params,
  reducers.extend_task_lease.run,
);
export const complete_task: ModuleExport = spacetimedb.reducer(
  reducers.complete_task.params,
  reducers.complete_task.run,
);
export const fail_task: ModuleExport = spacetimedb.reducer(reducers.fail_task.params, reducers.fail_task.run);
export const release_task: ModuleExport = spacetimedb.reducer(reducers.release_task.params, reducers.release_task.run);
export const cancel_task: ModuleExport = spacetimedb.reducer(reducers.cancel_task.params, reducers.cancel_task.run);
export const hand_off_task: ModuleExport = spacetimedb.reducer(
  reducers.hand_off_task.params,
  reducers.hand_off_task.run,
);
export const expire_task_lease: ModuleExport = spacetimedb.reducer(
  { onSchedule: taskLeaseSchedule },
  reducers.expire_task_lease.params,
  reducers.expire_task_lease.run,
);
export const send_message: ModuleExport = spacetimedb.reducer(reducers.send_message.params, reducers.send_message.run);
export const write_memory: ModuleExport = spacetimedb.reducer(reducers.write_memory.params, reducers.write_memory.run);
export const update_memory: ModuleExport = spacetimedb.reducer(
  reducers.update_memory.params,
  reducers.update_memory.run,
);
export const delete_memory: ModuleExport = spacetimedb.reducer(
  reducers.delete_memory.params,
  reducers.delete_memory.run,
);
export const share_memory: ModuleExport = spacetimedb.reducer(reducers.share_memory.params, reducers.share_memory.run);
export const begin_memory_compaction: ModuleExport = spacetimedb.reducer(
  reducers.begin_memory_compaction.params,
  reducers.begin_memory_compaction.run,
);
export const complete_memory_compaction: ModuleExport = spacetimedb.reducer(
  reducers.complete_memory_compaction.params,
  reducers.complete_memory_compaction.run,
);
export const abandon_memory_compaction: ModuleExport = spacetimedb.reducer(
  reducers.abandon_memory_compaction.params,
  reducers.abandon_memory_compaction.run,
);
export const import_memory: ModuleExport = spacetimedb.reducer(
  reducers.import_memory.params,
  reducers.import_memory.run,
);
export const record_reflection: ModuleExport = spacetimedb.reducer(
  reducers.record_reflection.params,
  reducers.record_reflection.run,
);
export const request_attention: ModuleExport = spacetimedb.reducer(
  reducers.request_attention.params,
  reducers.request_attention.run,
);
export const raise_agent_attention: ModuleExport = spacetimedb.reducer(
  reducers.raise_agent_attention.params,
  reducers.raise_agent_attention.run,
);
export const resolve_attention: ModuleExport = spacetimedb.reducer(
  reducers.resolve_attention.params,
  reducers.resolve_attention.run,
);
export const withdraw_attention: ModuleExport = spacetimedb.reducer(
  reducers.withdraw_attention.params,
  reducers.withdraw_attention.run,
);
export const expire_attention_request: ModuleExport = spacetimedb.reducer(
  { onSchedule: attentionExpirySchedule },
  reducers.expire_attention_request.params,
  reducers.expire_attention_request.run,
);
export const log_action: ModuleExport = spacetimedb.reducer(reducers.log_action.params, reducers.log_action.run);
export const record_inference: ModuleExport = spacetimedb.reducer(
  reducers.record_inference.params,
  reducers.record_inference.run,
);
// Inference recording for replay (reducers/inference-records.ts).
export const record_inference_call: ModuleExport = spacetimedb.reducer(
  reducers.record_inference_call.params,
  reducers.record_inference_call.run,
);
export const prune_inference_texts: ModuleExport = spacetimedb.reducer(
  reducers.prune_inference_texts.params,
  reducers.prune_inference_texts.run,
);

// The agent loop (reducers/cycles.ts, plans.ts, hooks.ts).
export const begin_cycle: ModuleExport = spacetimedb.reducer(reducers.begin_cycle.params, reducers.begin_cycle.run);
export const record_triage: ModuleExport = spacetimedb.reducer(
  reducers.record_triage.params,
  reducers.record_triage.run,
);
export const set_cycle_phase: ModuleExport = spacetimedb.reducer(
  reducers.set_cycle_phase.params,
  reducers.set_cycle_phase.run,
);
export const record_cycle_inference: ModuleExport = spacetimedb.reducer(
  reducers.record_cycle_inference.params,
  reducers.record_cycle_inference.run,
);
export const begin_tool_call: ModuleExport = spacetimedb.reducer(
  reducers.begin_tool_call.params,
  reducers.begin_tool_call.run,
);
export const finish_tool_call: ModuleExport = spacetimedb.reducer(
  reducers.finish_tool_call.params,
  reducers.finish_tool_call.run,
);
export const finish_cycle: ModuleExport = spacetimedb.reducer(reducers.finish_cycle.params, reducers.finish_cycle.run);
export const report_agent_status: ModuleExport = spacetimedb.reducer(
  reducers.report_agent_status.params,
  reducers.report_agent_status.run,
);
export const claim_agent_runner: ModuleExport = spacetimedb.reducer(
  reducers.claim_agent_runner.params,
  reducers.claim_agent_runner.run,
);
export const release_agent_runner: ModuleExport = spacetimedb.reducer(
  reducers.release_agent_runner.params,
  reducers.release_agent_runner.run,
);
export const set_agent_schedule: ModuleExport = spacetimedb.reducer(
  reducers.set_agent_schedule.params,
  reducers.set_agent_schedule.run,
);
export const submit_plan: ModuleExport = spacetimedb.reducer(reducers.submit_plan.params, reducers.submit_plan.run);
export const decide_plan: ModuleExport = spacetimedb.reducer(reducers.decide_plan.params, reducers.decide_plan.run);
export const withdraw_plan: ModuleExport = spacetimedb.reducer(
  reducers.withdraw_plan.params,
  reducers.withdraw_plan.run,
);
export const set_plan_approver: ModuleExport = spacetimedb.reducer(
  reducers.set_plan_approver.params,
  reducers.set_plan_approver.run,
);
export const record_hook_run: ModuleExport = spacetimedb.reducer(
  reducers.record_hook_run.params,
  reducers.record_hook_run.run,
);
export const set_reaction: ModuleExport = spacetimedb.reducer(reducers.set_reaction.params, reducers.set_reaction.run);
export const wake_agent: ModuleExport = spacetimedb.reducer(
  { onSchedule: agentWakeSchedule },
  reducers.wake_agent.params,
  reducers.wake_agent.run,
);

interface ViewerContext {
  sender: Identity;
  db: {
    admin: { identity: { find(identity: Identity): unknown } };
    agent: { identity: { find(identity: Identity): { name: string } | null } };
  };
}

function viewerOf(ctx: ViewerContext): Viewer {
  return {
    agentName: ctx.db.agent.identity.find(ctx.sender)?.name,
    isAdmin: ctx.db.admin.identity.find(ctx.sender) !== null,
  };
}

/** Messages the caller may read (private table `message` behind it). */
export const visible_message: ModuleExport = spacetimedb.view(
  { name: 'visible_message', public: true },
  t.array(message.rowType),
  (ctx) => {
    const viewer = viewerOf(ctx);
    return [...ctx.db.message.iter()].filter((row) => canSeeMessage(viewer, row));
  },
);

/** Memory entries the caller may read: its own and shared ones (private table `memory_entry` behind it). */
export const visible_memory: ModuleExport = spacetimedb.view(
  { name: 'visible_memory', public: true },
  t.array(memoryEntry.rowType),
  (ctx) => {
    const viewer = viewerOf(ctx);
    return [...ctx.db.memory_entry.iter()].filter((row) => canSeeMemory(viewer, row));
  },
);

/** Provenance links of the memory entries the caller may read: a link is as visible as its memory. */
export const visible_memory_link: ModuleExport = spacetimedb.view(
  { name: 'visible_memory_link', public: true },
  t.array(memoryLink.rowType),
  (ctx) => {
    const viewer = viewerOf(ctx);
    return [...ctx.db.memory_link.iter()].filter((row) => {
      const memory = ctx.db.memory_entry.id.find(row.memory_id);
      return memory !== null && canSeeMemory(viewer, memory);
    });
  },
);

/** The caller's own compaction runs (private table `memory_compaction` behind it). */
export const visible_memory_compaction: ModuleExport = spacetimedb.view(
  { name: 'visible_memory_compaction', public: true },
  t.array(memoryCompaction.rowType),
  (ctx) => {
    const viewer = viewerOf(ctx);
    return [...ctx.db.memory_compaction.iter()].filter((row) => canSeeMemoryCompaction(viewer, row));
  },
);
