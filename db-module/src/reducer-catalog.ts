/**
 * Every reducer by its public name (the name clients call and SpacetimeDB registers). Both hosts read
 * this one list: src/spacetime-module.ts registers each entry, the embedded host dispatches to it.
 */

import { logAction, recordInference } from './reducers/accounting.ts';
import {
  addAdmin,
  agentHeartbeat,
  clientConnected,
  clientDisconnected,
  init,
  registerAgent,
  unregisterAgent,
} from './reducers/agents.ts';
import {
  expireAttentionRequest,
  raiseAgentAttention,
  requestAttention,
  resolveAttention,
  withdrawAttention,
} from './reducers/attention.ts';
import {
  beginCycle,
  beginToolCall,
  finishCycle,
  finishToolCall,
  recordCycleInference,
  recordTriage,
  reportAgentStatus,
  setAgentSchedule,
  setCyclePhase,
  wakeAgent,
} from './reducers/cycles.ts';
import { recordHookRun, setReaction } from './reducers/hooks.ts';
import { pruneInferenceTexts, recordInferenceCall } from './reducers/inference-records.ts';
import {
  abandonMemoryCompaction,
  beginMemoryCompaction,
  completeMemoryCompaction,
  deleteMemory,
  importMemory,
  recordReflection,
  shareMemory,
  updateMemory,
  writeMemory,
} from './reducers/memory.ts';
import { sendMessage } from './reducers/messages.ts';
import { decidePlan, setPlanApprover, submitPlan, withdrawPlan } from './reducers/plans.ts';
import { claimAgentRunner, releaseAgentRunner } from './reducers/runners.ts';
import { createStimulus } from './reducers/stimuli.ts';
import {
  cancelTask,
  claimTask,
  completeTask,
  createTask,
  expireTaskLease,
  extendTaskLease,
  failTask,
  handOffTask,
  releaseTask,
} from './reducers/tasks.ts';

export interface ReducerCatalog {
  readonly init: typeof init;
  readonly client_connected: typeof clientConnected;
  readonly client_disconnected: typeof clientDisconnected;
  readonly register_agent: typeof registerAgent;
  readonly unregister_agent: typeof unregisterAgent;
  readonly add_admin: typeof addAdmin;
  readonly agent_heartbeat: typeof agentHeartbeat;
  readonly create_stimulus: typeof createStimulus;
  readonly create_task: typeof createTask;
  readonly claim_task: typeof claimTask;
  readonly extend_task_lease: typeof extendTaskLease;
  readonly complete_task: typeof completeTask;
  readonly fail_task: typeof failTask;
  readonly release_task: typeof releaseTask;
  readonly cancel_task: typeof cancelTask;
  readonly hand_off_task: typeof handOffTask;
  readonly expire_task_lease: typeof expireTaskLease;
  readonly send_message: typeof sendMessage;
  readonly write_memory: typeof writeMemory;
  readonly update_memory: typeof updateMemory;
  readonly share_memory: typeof shareMemory;
  readonly delete_memory: typeof deleteMemory;
  readonly record_reflection: typeof recordReflection;
  readonly begin_memory_compaction: typeof beginMemoryCompaction;
  readonly complete_memory_compaction: typeof completeMemoryCompaction;
  readonly abandon_memory_compaction: typeof abandonMemoryCompaction;
  readonly import_memory: typeof importMemory;
  readonly request_attention: typeof requestAttention;
  readonly raise_agent_attention: typeof raiseAgentAttention;
  readonly resolve_attention: typeof resolveAttention;
  readonly withdraw_attention: typeof withdrawAttention;
  readonly expire_attention_request: typeof expireAttentionRequest;
  readonly log_action: typeof logAction;
  readonly record_inference: typeof recordInference;
  readonly record_inference_call: typeof recordInferenceCall;
  readonly prune_inference_texts: typeof pruneInferenceTexts;
  readonly begin_cycle: typeof beginCycle;
  readonly record_triage: typeof recordTriage;
  readonly set_cycle_phase: typeof setCyclePhase;
  readonly record_cycle_inference: typeof recordCycleInference;
  readonly begin_tool_call: typeof beginToolCall;
  readonly finish_tool_call: typeof finishToolCall;
  readonly finish_cycle: typeof finishCycle;
  readonly report_agent_status: typeof reportAgentStatus;
  readonly claim_agent_runner: typeof claimAgentRunner;
  readonly release_agent_runner: typeof releaseAgentRunner;
  readonly set_agent_schedule: typeof setAgentSchedule;
  readonly wake_agent: typeof wakeAgent;
  readonly submit_plan: typeof submitPlan;
  readonly decide_plan: typeof decidePlan;
  readonly withdraw_plan: typeof withdrawPlan;
  readonly set_plan_approver: typeof setPlanApprover;
  readonly record_hook_run: typeof recordHookRun;
  readonly set_reaction: typeof setReaction;
}

export const reducerCatalog: ReducerCatalog = {
  init,
  client_connected: clientConnected,
  client_disconnected: clientDisconnected,
  register_agent: registerAgent,
  unregister_agent: unregisterAgent,
  add_admin: addAdmin,
  agent_heartbeat: agentHeartbeat,
  create_stimulus: createStimulus,
  create_task: createTask,
  claim_task: claimTask,
  extend_task_lease: extendTaskLease,
  complete_task: completeTask,
  fail_task: failTask,
  release_task: releaseTask,
  cancel_task: cancelTask,
  hand_off_task: handOffTask,
  expire_task_lease: expireTaskLease,
  send_message: sendMessage,
  write_memory: writeMemory,
  update_memory: updateMemory,
  share_memory: shareMemory,
  delete_memory: deleteMemory,
  record_reflection: recordReflection,
  begin_memory_compaction: beginMemoryCompaction,
  complete_memory_compaction: completeMemoryCompaction,
  abandon_memory_compaction: abandonMemoryCompaction,
  import_memory: importMemory,
  request_attention: requestAttention,
  raise_agent_attention: raiseAgentAttention,
  resolve_attention: resolveAttention,
  withdraw_attention: withdrawAttention,
  expire_attention_request: expireAttentionRequest,
  log_action: logAction,
  record_inference: recordInference,
  record_inference_call: recordInferenceCall,
  prune_inference_texts: pruneInferenceTexts,
  begin_cycle: beginCycle,
  record_triage: recordTriage,
  set_cycle_phase: setCyclePhase,
  record_cycle_inference: recordCycleInference,
  begin_tool_call: beginToolCall,
  finish_tool_call: finishToolCall,
  finish_cycle: finishCycle,
  report_agent_status: reportAgentStatus,
  claim_agent_runner: claimAgentRunner,
  release_agent_runner: releaseAgentRunner,
  set_agent_schedule: setAgentSchedule,
  wake_agent: wakeAgent,
  submit_plan: submitPlan,
  decide_plan: decidePlan,
  withdraw_plan: withdrawPlan,
  set_plan_approver: setPlanApprover,
  record_hook_run: recordHookRun,
  set_reaction: setReaction,
};

export type ReducerName = keyof typeof reducerCatalog;

/** Schedule table -> the reducer the database runs for each of its rows when `scheduled_at` is due. */
export const scheduleCatalog = {
  task_lease_schedule: 'expire_task_lease',
  attention_expiry_schedule: 'expire_attention_request',
  agent_wake_schedule: 'wake_agent',
} as const satisfies Record<string, ReducerName>;

/** Views clients subscribe to instead of the private tables behind them. */
export const viewCatalog = {
  visible_message: 'message',
  visible_memory: 'memory_entry',
  visible_memory_link: 'memory_link',
  visible_memory_compaction: 'memory_compaction',
} as const;
