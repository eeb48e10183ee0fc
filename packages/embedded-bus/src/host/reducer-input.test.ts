import { isClawError } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import { createFixture, type Fixture, inferenceCallArgs, START_MS, snapshot } from '../testing/test-fixture.ts';
import { identityForName } from './identity.ts';

type Bad = [caller: string, args: (fixture: Fixture) => Record<string, unknown>, code: string, message: string];

const LONG = 'x'.repeat(8_001);
const OWNER = 'DevClaw';
const NOTE = { tier: 'short', scope: 'private', importance: 0.5, text: 'a note', tags: [], links: [] };
const REFLECTION = { text: 'I learned', importance: 0.5, tags: [], links: [] };
const IMPORTED = {
  agent: 'DevClaw',
  tier: 'long',
  scope: 'private',
  importance: 0.5,
  text: 'from an earlier install',
  tags: [],
  archived: false,
  created_at: (START_MS - 86_400_000) * 1000,
  links: [],
};
const ADMIN = 'orchestrator';

// Bad input for every client reducer: wrong types (INVALID_PARAMS, from the declared parameter types)
// and values the reducer rejects (REDUCER_REJECTED, with the reducer's message).
const BAD_INPUT: Record<string, Bad[]> = {
  register_agent: [
    [
      ADMIN,
      () => ({ name: '', identity: identityForName('x'), role: 'r' }),
      'REDUCER_REJECTED',
      'Expected `name` to be a name',
    ],
    [
      ADMIN,
      () => ({ name: 'DevClaw', identity: identityForName('x'), role: 'r' }),
      'REDUCER_REJECTED',
      'Agent DevClaw is already registered',
    ],
    [
      ADMIN,
      () => ({ name: 'Clone', identity: identityForName('DevClaw'), role: 'r' }),
      'REDUCER_REJECTED',
      'already registered as agent DevClaw',
    ],
    [
      ADMIN,
      () => ({ name: 'OpsClaw', identity: 'not-hex', role: 'r' }),
      'INVALID_PARAMS',
      'Expected `identity` to be an identity',
    ],
    [
      ADMIN,
      () => ({ name: 'OpsClaw', identity: identityForName('o'), role: LONG }),
      'REDUCER_REJECTED',
      'Expected `role` to be at most 200 characters',
    ],
  ],
  unregister_agent: [[ADMIN, () => ({ name: 'Nobody' }), 'REDUCER_REJECTED', 'Agent Nobody is not registered']],
  add_admin: [
    [
      ADMIN,
      () => ({ identity: identityForName('orchestrator'), name: 'again' }),
      'REDUCER_REJECTED',
      'is already an admin',
    ],
    [
      ADMIN,
      () => ({ identity: identityForName('DevClaw'), name: 'dev' }),
      'REDUCER_REJECTED',
      'An agent identity cannot be made an admin',
    ],
  ],
  agent_heartbeat: [
    [OWNER, () => ({ status: '' }), 'REDUCER_REJECTED', 'Expected `status` to be non-empty text'],
    [OWNER, () => ({ status: 5 }), 'INVALID_PARAMS', 'Expected `status` to be a string, got `5` (number)'],
  ],
  create_stimulus: [
    [
      OWNER,
      () => ({ source: 'cli', kind: 'message', text: 'x', priority: 10 }),
      'REDUCER_REJECTED',
      'Expected `priority` to be an integer 0-9, got `10`',
    ],
    [
      OWNER,
      () => ({ source: 'cli', kind: 'message', text: 'x', priority: 1, target_agent: 'Ghost' }),
      'REDUCER_REJECTED',
      'Expected `target_agent` to name a registered agent',
    ],
    [
      OWNER,
      () => ({ source: 'cli', kind: 'message', text: LONG, priority: 1 }),
      'REDUCER_REJECTED',
      'Expected `text` to be at most 8000 characters',
    ],
    [
      OWNER,
      () => ({ source: 'cli', kind: 'message', text: 'x', priority: 'high' }),
      'INVALID_PARAMS',
      'Expected `priority` to be an integer 0-255 (u8), got `high` (string)',
    ],
  ],
  create_task: [
    [
      OWNER,
      () => ({ title: ' ', description: '', priority: 1, depends_on: [] }),
      'REDUCER_REJECTED',
      'Expected `title` to be non-empty text',
    ],
    [
      OWNER,
      () => ({ title: 't', description: '', priority: 1, depends_on: [999] }),
      'REDUCER_REJECTED',
      'Dependency task 999 does not exist',
    ],
    [
      OWNER,
      (f) => ({ title: 't', description: '', priority: 1, depends_on: [f.queuedTaskId, f.queuedTaskId] }),
      'REDUCER_REJECTED',
      'Expected `depends_on` to list each task once',
    ],
    [
      OWNER,
      () => ({ title: 't', description: '', priority: 1, depends_on: [], stimulus_id: 77 }),
      'REDUCER_REJECTED',
      'Stimulus 77 does not exist',
    ],
    [
      OWNER,
      () => ({ title: 't', description: '', priority: 1, depends_on: 'none' }),
      'INVALID_PARAMS',
      'Expected `depends_on` to be an array',
    ],
    [
      OWNER,
      () => ({ title: 't', description: '', priority: 1 }),
      'INVALID_PARAMS',
      'Expected `depends_on` to be an array, got',
    ],
  ],
  claim_task: [
    [OWNER, () => ({ task_id: 999, lease_seconds: 30 }), 'REDUCER_REJECTED', 'Task 999 does not exist'],
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, lease_seconds: 30 }),
      'REDUCER_REJECTED',
      'is already claimed by DevClaw',
    ],
    [
      OWNER,
      (f) => ({ task_id: f.queuedTaskId, lease_seconds: 0 }),
      'REDUCER_REJECTED',
      'Expected `lease_seconds` to be an integer 1-3600',
    ],
    [
      OWNER,
      () => ({ task_id: -1, lease_seconds: 30 }),
      'INVALID_PARAMS',
      'Expected `task_id` to be an integer 0-18446744073709551615 (u64), got `-1` (number)',
    ],
    [
      OWNER,
      (f) => ({ task_id: f.queuedTaskId, lease_seconds: 30, extra: true }),
      'INVALID_PARAMS',
      'Unknown argument `extra` for `claim_task`',
    ],
  ],
  extend_task_lease: [
    [OWNER, (f) => ({ task_id: f.queuedTaskId, lease_seconds: 30 }), 'REDUCER_REJECTED', 'is queued, not claimed'],
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, lease_seconds: 3_601 }),
      'REDUCER_REJECTED',
      'Expected `lease_seconds` to be an integer 1-3600',
    ],
  ],
  complete_task: [
    [OWNER, () => ({ task_id: 999, result: 'r' }), 'REDUCER_REJECTED', 'Task 999 does not exist'],
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, result: LONG }),
      'REDUCER_REJECTED',
      'Expected `result` to be at most 8000 characters',
    ],
  ],
  fail_task: [
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, reason: '' }),
      'REDUCER_REJECTED',
      'Expected `reason` to be non-empty text',
    ],
  ],
  release_task: [[OWNER, (f) => ({ task_id: f.queuedTaskId }), 'REDUCER_REJECTED', 'is queued, not claimed']],
  cancel_task: [
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, reason: '' }),
      'REDUCER_REJECTED',
      'Expected `reason` to be non-empty text',
    ],
    [OWNER, () => ({ task_id: 999, reason: 'r' }), 'REDUCER_REJECTED', 'Task 999 does not exist'],
  ],
  hand_off_task: [
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, to_agent: 'Ghost', note: 'n' }),
      'REDUCER_REJECTED',
      'Expected `to_agent` to name a registered agent',
    ],
    [
      OWNER,
      (f) => ({ task_id: f.claimedTaskId, to_agent: 'DevClaw', note: 'n' }),
      'REDUCER_REJECTED',
      'Cannot hand a task off to its own owner',
    ],
  ],
  expire_task_lease: [
    [
      ADMIN,
      (f) => ({ schedule: { ...f.leaseScheduleRow, task_id: 'x' } }),
      'INVALID_PARAMS',
      'Expected `schedule.task_id` to be an integer',
    ],
  ],
  send_message: [
    [OWNER, () => ({ text: '' }), 'REDUCER_REJECTED', 'Expected `text` to be non-empty text'],
    [OWNER, () => ({ to_agent: 'DevClaw', text: 'hi' }), 'REDUCER_REJECTED', 'Cannot send a direct message to oneself'],
    [
      OWNER,
      () => ({ to_agent: 'Ghost', text: 'hi' }),
      'REDUCER_REJECTED',
      'Expected `to_agent` to name a registered agent',
    ],
  ],
  write_memory: [
    [
      OWNER,
      () => ({ ...NOTE, tier: 'forever' }),
      'REDUCER_REJECTED',
      'Expected `tier` to be one of short, daily, long',
    ],
    [OWNER, () => ({ ...NOTE, scope: 'public' }), 'REDUCER_REJECTED', 'Expected `scope` to be one of private, shared'],
    [OWNER, () => ({ ...NOTE, importance: 1.5 }), 'REDUCER_REJECTED', 'Expected `importance` to be a number 0-1'],
    [OWNER, () => ({ ...NOTE, importance: -0.1 }), 'REDUCER_REJECTED', 'Expected `importance` to be a number 0-1'],
    [OWNER, () => ({ ...NOTE, importance: '0.5' }), 'INVALID_PARAMS', 'importance'],
    [OWNER, () => ({ ...NOTE, text: '   ' }), 'REDUCER_REJECTED', 'Expected `text` to be non-empty text'],
    [OWNER, () => ({ ...NOTE, text: LONG }), 'REDUCER_REJECTED', 'Expected `text` to be at most 8000 characters'],
    [OWNER, () => ({ ...NOTE, tags: ['Has Space'] }), 'REDUCER_REJECTED', 'Expected each tag to be 1-40 lowercase'],
    [OWNER, () => ({ ...NOTE, tags: ['a', 'a'] }), 'REDUCER_REJECTED', 'Expected `tags` to list each tag once'],
    [
      OWNER,
      () => ({ ...NOTE, tags: Array.from({ length: 17 }, (_, index) => `t${index}`) }),
      'REDUCER_REJECTED',
      'Expected `tags` to list at most 16 tags',
    ],
    [OWNER, () => ({ ...NOTE, tags: 'deploy' }), 'INVALID_PARAMS', 'tags'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'memory', id: 999 }] }), 'REDUCER_REJECTED', 'Memory 999 does not exist'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'message', id: 5 }] }), 'REDUCER_REJECTED', 'Message 5 does not exist'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'task', id: 999 }] }), 'REDUCER_REJECTED', 'Task 999 does not exist'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'stimulus', id: 9 }] }), 'REDUCER_REJECTED', 'Stimulus 9 does not exist'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'website', id: 1 }] }), 'REDUCER_REJECTED', 'Expected `links[].kind`'],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'cycle', id: 999 }] }), 'REDUCER_REJECTED', 'Cycle 999 does not exist'],
    [
      OWNER,
      () => ({ ...NOTE, links: [{ kind: 'tool_call', id: 999 }] }),
      'REDUCER_REJECTED',
      'Tool call 999 does not exist',
    ],
    [
      OWNER,
      (f) => ({
        ...NOTE,
        links: [
          { kind: 'task', id: f.queuedTaskId },
          { kind: 'task', id: f.queuedTaskId },
        ],
      }),
      'REDUCER_REJECTED',
      'Expected `links` to list each link once',
    ],
    [OWNER, () => ({ ...NOTE, links: [{ kind: 'task' }] }), 'INVALID_PARAMS', 'links'],
    [OWNER, () => ({ ...NOTE, created_at: 1 }), 'INVALID_PARAMS', 'created_at'],
    [
      'UXClaw',
      (f) => ({ ...NOTE, links: [{ kind: 'memory', id: f.memoryId }] }),
      'REDUCER_REJECTED',
      // Another agent's private memory is reported as missing, not as forbidden.
      'does not exist',
    ],
  ],
  update_memory: [
    [
      OWNER,
      () => ({ memory_id: 999, tier: 'long', importance: 1, text: 't', tags: [] }),
      'REDUCER_REJECTED',
      'Memory 999 does not exist',
    ],
    [
      OWNER,
      (f) => ({ memory_id: f.memoryId, tier: 'long', importance: 1, text: LONG, tags: [] }),
      'REDUCER_REJECTED',
      'Expected `text` to be at most 8000 characters',
    ],
    [
      OWNER,
      (f) => ({ memory_id: f.compactedMemoryId, tier: 'long', importance: 1, text: 'changed', tags: [] }),
      'REDUCER_REJECTED',
      'is being compacted',
    ],
    [
      'UXClaw',
      (f) => ({ memory_id: f.memoryId, tier: 'long', importance: 1, text: 'mine now', tags: [] }),
      'REDUCER_REJECTED',
      'does not exist',
    ],
  ],
  share_memory: [
    [OWNER, () => ({ memory_id: 999, scope: 'shared' }), 'REDUCER_REJECTED', 'Memory 999 does not exist'],
    [OWNER, (f) => ({ memory_id: f.memoryId, scope: 'private' }), 'REDUCER_REJECTED', 'is already private'],
    [OWNER, (f) => ({ memory_id: f.memoryId, scope: 'world' }), 'REDUCER_REJECTED', 'Expected `scope` to be one of'],
  ],
  delete_memory: [
    [OWNER, () => ({ memory_id: 999 }), 'REDUCER_REJECTED', 'Memory 999 does not exist'],
    [OWNER, (f) => ({ memory_id: f.compactedMemoryId }), 'REDUCER_REJECTED', 'is being compacted'],
  ],
  record_reflection: [
    [OWNER, () => ({ ...REFLECTION, text: '' }), 'REDUCER_REJECTED', 'Expected `text` to be non-empty text'],
    [OWNER, () => ({ ...REFLECTION, task_id: 999 }), 'REDUCER_REJECTED', 'Task 999 does not exist'],
    [OWNER, () => ({ ...REFLECTION, importance: 7 }), 'REDUCER_REJECTED', 'Expected `importance` to be a number 0-1'],
    [OWNER, () => ({ ...REFLECTION, created_at: 1 }), 'INVALID_PARAMS', 'created_at'],
    [
      OWNER,
      (f) => ({ ...REFLECTION, task_id: f.queuedTaskId, links: [{ kind: 'task', id: f.queuedTaskId }] }),
      'REDUCER_REJECTED',
      'Expected `links` not to repeat',
    ],
  ],
  begin_memory_compaction: [
    [OWNER, () => ({ source_ids: [] }), 'REDUCER_REJECTED', 'Expected `source_ids` to list 1-64 memories'],
    [OWNER, (f) => ({ source_ids: [f.memoryId, f.memoryId] }), 'REDUCER_REJECTED', 'list each memory once'],
    [OWNER, (f) => ({ source_ids: [f.compactedMemoryId] }), 'REDUCER_REJECTED', 'is being compacted'],
    [OWNER, () => ({ source_ids: [999] }), 'REDUCER_REJECTED', 'Memory 999 does not exist'],
  ],
  complete_memory_compaction: [
    [OWNER, () => ({ compaction_id: 999, entries: [] }), 'REDUCER_REJECTED', 'Compaction run 999 does not exist'],
    [
      OWNER,
      (f) => ({ compaction_id: f.compactionId, entries: [] }),
      'REDUCER_REJECTED',
      'Expected `entries` to list 1-16 long-term entries',
    ],
    [
      OWNER,
      (f) => ({
        compaction_id: f.compactionId,
        entries: [{ text: 'merged', importance: 0.5, tags: [], source_ids: [f.memoryId] }],
      }),
      'REDUCER_REJECTED',
      'is not a source of compaction run',
    ],
    [
      OWNER,
      (f) => ({
        compaction_id: f.compactionId,
        entries: [{ text: 'merged', importance: 0.5, tags: [], source_ids: [] }],
      }),
      'REDUCER_REJECTED',
      'to name at least one source',
    ],
    [
      OWNER,
      (f) => ({
        compaction_id: f.compactionId,
        entries: [{ text: '', importance: 0.5, tags: [], source_ids: [f.compactedMemoryId] }],
      }),
      'REDUCER_REJECTED',
      'Expected `entries[0].text` to be non-empty text',
    ],
  ],
  abandon_memory_compaction: [
    [OWNER, () => ({ compaction_id: 999 }), 'REDUCER_REJECTED', 'Compaction run 999 does not exist'],
  ],
  import_memory: [
    [ADMIN, () => ({ ...IMPORTED, agent: 'Ghost' }), 'REDUCER_REJECTED', 'Expected `agent` to name a registered agent'],
    [
      ADMIN,
      () => ({ ...IMPORTED, created_at: (START_MS + 60_000) * 1000 }),
      'REDUCER_REJECTED',
      'Expected `created_at` not to be in the future',
    ],
    [ADMIN, () => ({ ...IMPORTED, created_at: 'yesterday' }), 'INVALID_PARAMS', 'created_at'],
    [
      ADMIN,
      () => ({ ...IMPORTED, links: [{ kind: 'memory', id: 999 }] }),
      'REDUCER_REJECTED',
      'Memory 999 does not exist',
    ],
    [ADMIN, () => ({ ...IMPORTED, tier: 'weekly' }), 'REDUCER_REJECTED', 'Expected `tier` to be one of'],
  ],
  request_attention: [
    [
      OWNER,
      () => ({ text: 't', priority: 1, default_action: 'wait', expires_in_seconds: 0 }),
      'REDUCER_REJECTED',
      'Expected `expires_in_seconds` to be an integer 1-604800',
    ],
    [
      OWNER,
      () => ({ text: 't', priority: 1, default_action: '', expires_in_seconds: 5 }),
      'REDUCER_REJECTED',
      'Expected `default_action` to be non-empty text',
    ],
  ],
  raise_agent_attention: [
    [
      ADMIN,
      () => ({ agent: 'Ghost', text: 't', priority: 1, default_action: 'wait', expires_in_seconds: 60 }),
      'REDUCER_REJECTED',
      'Expected `agent` to name a registered agent',
    ],
    [
      ADMIN,
      () => ({ agent: 'DevClaw', text: '', priority: 1, default_action: 'wait', expires_in_seconds: 60 }),
      'REDUCER_REJECTED',
      'Expected `text` to be non-empty text',
    ],
    [
      ADMIN,
      () => ({ agent: 'DevClaw', text: 't', priority: 10, default_action: 'wait', expires_in_seconds: 60 }),
      'REDUCER_REJECTED',
      'Expected `priority` to be an integer 0-9',
    ],
    [
      ADMIN,
      () => ({ agent: 7, text: 't', priority: 1, default_action: 'wait', expires_in_seconds: 60 }),
      'INVALID_PARAMS',
      'agent',
    ],
  ],
  resolve_attention: [
    [
      ADMIN,
      () => ({ attention_request_id: 999, resolution: 'yes' }),
      'REDUCER_REJECTED',
      'Attention request 999 does not exist',
    ],
    [
      ADMIN,
      (f) => ({ attention_request_id: f.attentionRequestId, resolution: '' }),
      'REDUCER_REJECTED',
      'Expected `resolution` to be non-empty text',
    ],
  ],
  withdraw_attention: [
    [OWNER, () => ({ attention_request_id: 999 }), 'REDUCER_REJECTED', 'Attention request 999 does not exist'],
  ],
  expire_attention_request: [
    [ADMIN, () => ({ schedule: 'soon' }), 'INVALID_PARAMS', 'Expected `schedule` to be an object'],
  ],
  log_action: [
    [
      OWNER,
      () => ({ action: 'shell', input: '', outcome: 'maybe', detail: '' }),
      'REDUCER_REJECTED',
      'Expected `outcome` to be one of ok, error, denied',
    ],
    [
      OWNER,
      () => ({ action: 'shell', input: LONG, outcome: 'ok', detail: '' }),
      'REDUCER_REJECTED',
      'Expected `input` to be at most 8000 characters',
    ],
  ],
  record_inference_call: [
    [
      OWNER,
      () => inferenceCallArgs({ request_id: 'a1b2c3d4-0000-4000-8000-000000000001' }),
      'REDUCER_REJECTED',
      'Only an admin may record inference calls',
    ],
    [ADMIN, (f) => inferenceCallArgs({ request_id: f.recordedRequestId }), 'REDUCER_REJECTED', 'is already recorded'],
    [
      ADMIN,
      () => inferenceCallArgs({ request_id: 'r-1' }),
      'REDUCER_REJECTED',
      'Expected `request_id` to be a lowercase UUID',
    ],
    [ADMIN, () => recorded({ agent: 'Ghost' }), 'REDUCER_REJECTED', 'Ghost'],
    [
      ADMIN,
      () => recorded({ method: 'embed' }),
      'REDUCER_REJECTED',
      'Expected `method` to be one of generate, structured',
    ],
    [ADMIN, () => recorded({ model_sha256: 'ABC' }), 'REDUCER_REJECTED', 'Expected `model_sha256` to be a sha256'],
    [ADMIN, () => recorded({ threads: 0 }), 'REDUCER_REJECTED', 'Expected `threads`'],
    [ADMIN, () => recorded({ temperature: 3 }), 'REDUCER_REJECTED', 'Expected `temperature`'],
    [ADMIN, () => recorded({ top_p: 1.5 }), 'REDUCER_REJECTED', 'Expected `top_p`'],
    [ADMIN, () => recorded({ seed: -1 }), 'INVALID_PARAMS', 'seed'],
    [ADMIN, () => recorded({ max_tokens: 0 }), 'REDUCER_REJECTED', 'Expected `max_tokens`'],
    [
      ADMIN,
      () => recorded({ grammar_sha256: null, texts: [] }),
      'REDUCER_REJECTED',
      'Expected a `grammar_sha256` for a structured call',
    ],
    [
      ADMIN,
      () => recorded({ stop_reason: 'aborted' }),
      'REDUCER_REJECTED',
      'Expected `stop_reason` to be one of eos, max-tokens',
    ],
    [ADMIN, () => recorded({ tokens_reused: 41 }), 'REDUCER_REJECTED', 'Expected `tokens_reused`'],
    [ADMIN, () => recorded({ output: 'x'.repeat(1_048_577) }), 'REDUCER_REJECTED', 'Expected `output` to be at most'],
    [
      ADMIN,
      () => recorded({ texts: [{ sha256: 'f'.repeat(64), kind: 'prompt', text: 'not the prompt' }] }),
      'REDUCER_REJECTED',
      "Expected `texts[0]` to be the record's prompt",
    ],
    [
      ADMIN,
      () => recorded({ texts: [{ sha256: 'd'.repeat(64), kind: 'memo', text: 'x' }] }),
      'REDUCER_REJECTED',
      'Expected `texts[0].kind` to be one of prefix, prompt, schema',
    ],
    [ADMIN, () => recorded({ output_tokens: ['a'] }), 'INVALID_PARAMS', 'output_tokens'],
  ],
  prune_inference_texts: [
    [OWNER, () => ({ keep_seconds: 0 }), 'REDUCER_REJECTED', 'Only an admin may prune stored prompts'],
    [ADMIN, () => ({ keep_seconds: -5 }), 'INVALID_PARAMS', 'keep_seconds'],
  ],
  record_inference: [
    [ADMIN, () => usage({ agent: 'Ghost' }), 'REDUCER_REJECTED', 'Expected `agent` to name a registered agent'],
    [
      ADMIN,
      () => usage({ priority_class: 'urgent' }),
      'REDUCER_REJECTED',
      'Expected `priority_class` to be one of human, triage, act, reflect, compaction',
    ],
    [
      ADMIN,
      () => usage({ prompt_tokens: 1.5 }),
      'INVALID_PARAMS',
      'Expected `prompt_tokens` to be an integer 0-4294967295 (u32)',
    ],
    [
      ADMIN,
      () => usage({ outcome: 'done' }),
      'REDUCER_REJECTED',
      'Expected `outcome` to be one of ok, failed, cancelled',
    ],
    [
      ADMIN,
      () => usage({ method: 'chat' }),
      'REDUCER_REJECTED',
      'Expected `method` to be one of generate, structured, embed',
    ],
    [ADMIN, () => usage({ request_id: '42' }), 'REDUCER_REJECTED', 'Expected `request_id` to be a lowercase UUID'],
    [
      ADMIN,
      () => usage({ outcome: 'failed' }),
      'REDUCER_REJECTED',
      'Expected an `error_code` when `outcome` is failed',
    ],
    [
      ADMIN,
      () => usage({ error_code: 'TIMEOUT' }),
      'REDUCER_REJECTED',
      'Expected no `error_code` when `outcome` is ok',
    ],
    [
      ADMIN,
      () => usage({ outcome: 'cancelled', error_code: 'not a code' }),
      'REDUCER_REJECTED',
      'Expected `error_code` to be an UPPER_SNAKE error code',
    ],
    [
      ADMIN,
      () => usage({ cached_prompt_tokens: 11 }),
      'REDUCER_REJECTED',
      'Expected `cached_prompt_tokens` to be an integer 0-10',
    ],
    [
      ADMIN,
      () => usage({ queued_ms: 13 }),
      'REDUCER_REJECTED',
      'Expected `queued_ms` to be at most `duration_ms` (12), got 13',
    ],
  ],
  begin_cycle: [
    [
      OWNER,
      () => ({ trigger_kind: 'rumour', trigger_key: 'rumour:1', trigger_text: '', priority: 1 }),
      'REDUCER_REJECTED',
      'Expected `trigger_kind` to be one of stimulus, task, message, lease, attention, plan',
    ],
    [
      OWNER,
      () => ({ trigger_kind: 'task', trigger_key: 'stimulus:1', trigger_text: '', priority: 1 }),
      'REDUCER_REJECTED',
      'Expected `trigger_key` to start with `task:`',
    ],
    [
      OWNER,
      () => ({ trigger_kind: 'stimulus', trigger_key: 'stimulus:1; DROP', trigger_text: '', priority: 1 }),
      'REDUCER_REJECTED',
      'Expected `trigger_key` to look like',
    ],
    [
      OWNER,
      () => ({ trigger_kind: 'stimulus', trigger_key: 'stimulus:1001', trigger_text: '', priority: 1 }),
      'REDUCER_REJECTED',
      'already handles stimulus:1001',
    ],
    [
      ADMIN,
      () => ({ trigger_kind: 'stimulus', trigger_key: 'stimulus:5', trigger_text: '', priority: 1 }),
      'REDUCER_REJECTED',
      'Only a registered agent may begin cycles',
    ],
  ],
  record_triage: [
    [
      OWNER,
      (f) => ({ cycle_id: f.triagingCycleId, decision: 'panic', priority: 1, reason: '', defer_seconds: 0 }),
      'REDUCER_REJECTED',
      'Expected `decision` to be one of act, delegate, defer, ignore',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.triagingCycleId, decision: 'defer', priority: 1, reason: '', defer_seconds: 0 }),
      'REDUCER_REJECTED',
      'Expected `defer_seconds` to be an integer 1-604800',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, decision: 'act', priority: 1, reason: '', defer_seconds: 0 }),
      'REDUCER_REJECTED',
      'is acting; only a triaging or due cycle can be triaged',
    ],
    [
      'UXClaw',
      (f) => ({ cycle_id: f.triagingCycleId, decision: 'act', priority: 1, reason: '', defer_seconds: 0 }),
      'REDUCER_REJECTED',
      'belongs to DevClaw; only it may triage it',
    ],
  ],
  set_cycle_phase: [
    [OWNER, (f) => ({ cycle_id: f.actingCycleId, phase: 'done' }), 'REDUCER_REJECTED', 'Expected `phase` to be one of'],
    [OWNER, (f) => ({ cycle_id: f.triagingCycleId, phase: 'acting' }), 'REDUCER_REJECTED', 'triage it first'],
    [OWNER, () => ({ cycle_id: 999, phase: 'acting' }), 'REDUCER_REJECTED', 'Cycle 999 does not exist'],
  ],
  record_cycle_inference: [
    [
      OWNER,
      (f) => ({
        cycle_id: f.actingCycleId,
        phase: 'act',
        model: 'tiny',
        request_id: '',
        prompt_hash: 'not-a-hash',
        max_tokens: 1,
        tokens_in: 1,
        tokens_out: 1,
      }),
      'REDUCER_REJECTED',
      'Expected `prompt_hash` to be a sha256',
    ],
    [
      OWNER,
      (f) => ({
        cycle_id: f.actingCycleId,
        phase: 'dream',
        model: 'tiny',
        request_id: '',
        prompt_hash: 'a'.repeat(64),
        max_tokens: 1,
        tokens_in: 1,
        tokens_out: 1,
      }),
      'REDUCER_REJECTED',
      'Expected `phase` to be one of triage, act, reflect, repair, plan',
    ],
    [
      OWNER,
      (f) => ({
        cycle_id: f.actingCycleId,
        phase: 'act',
        model: 'tiny',
        request_id: '',
        prompt_hash: 'a'.repeat(64),
        max_tokens: 1,
        tokens_in: -1,
        tokens_out: 1,
      }),
      'INVALID_PARAMS',
      'Expected `tokens_in` to be an integer 0-4294967295 (u32)',
    ],
  ],
  begin_tool_call: [
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, step: 0, tool: 'files.read', args: '{}', side_effect: false }),
      'REDUCER_REJECTED',
      'Step 0 of cycle 1 is already recorded (started)',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, step: 1, tool: 'rm -rf /', args: '{}', side_effect: true }),
      'REDUCER_REJECTED',
      'Expected `tool` to be a tool name',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.triagingCycleId, step: 0, tool: 'files.read', args: '{}', side_effect: false }),
      'REDUCER_REJECTED',
      'is triaging, not acting or delegating; cannot call tools',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, step: 1, tool: 'files.read', args: LONG, side_effect: false }),
      'REDUCER_REJECTED',
      'Expected `args` to be at most 8000 characters',
    ],
  ],
  finish_tool_call: [
    [
      OWNER,
      () => ({
        idempotency_key: '9:9',
        state: 'succeeded',
        result_digest: 'a'.repeat(64),
        result: '',
        error_code: '',
        duration_ms: 1,
      }),
      'REDUCER_REJECTED',
      'No tool call is recorded under 9:9',
    ],
    [
      OWNER,
      (f) => ({
        idempotency_key: f.toolCallKey,
        state: 'started',
        result_digest: 'a'.repeat(64),
        result: '',
        error_code: '',
        duration_ms: 1,
      }),
      'REDUCER_REJECTED',
      'Expected `state` to be one of succeeded, failed, refused, interrupted',
    ],
    [
      'UXClaw',
      (f) => ({
        idempotency_key: f.toolCallKey,
        state: 'succeeded',
        result_digest: 'a'.repeat(64),
        result: '',
        error_code: '',
        duration_ms: 1,
      }),
      'REDUCER_REJECTED',
      'belongs to DevClaw',
    ],
  ],
  finish_cycle: [
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, outcome: 'great', detail: '' }),
      'REDUCER_REJECTED',
      'Expected `outcome` to be one of success, partial, failure, ignored, delegated',
    ],
  ],
  report_agent_status: [
    [
      OWNER,
      () => ({ phase: 'sleeping', progress: '', queue_length: 0 }),
      'REDUCER_REJECTED',
      'Expected `phase` to be one of idle',
    ],
    [
      'UXClaw',
      (f) => ({ phase: 'acting', cycle_id: f.actingCycleId, progress: '', queue_length: 0 }),
      'REDUCER_REJECTED',
      'belongs to DevClaw',
    ],
  ],
  claim_agent_runner: [
    [
      OWNER,
      () => ({ session: 'no spaces allowed', lease_seconds: 30 }),
      'REDUCER_REJECTED',
      'Expected `session` to be 8-64 letters, digits, _ or -',
    ],
    [
      OWNER,
      () => ({ session: 'session-ok', lease_seconds: 1 }),
      'REDUCER_REJECTED',
      'Expected `lease_seconds` to be an integer 2-600',
    ],
    [OWNER, () => ({ session: 'session-ok' }), 'INVALID_PARAMS', 'lease_seconds'],
  ],
  release_agent_runner: [
    [OWNER, () => ({ session: '' }), 'REDUCER_REJECTED', 'Expected `session` to be 8-64 letters'],
    [
      'stranger',
      () => ({ session: 'session-ok' }),
      'REDUCER_REJECTED',
      'Only a registered agent may release its runner',
    ],
  ],
  set_agent_schedule: [
    [
      OWNER,
      () => ({ interval_seconds: 604_801 }),
      'REDUCER_REJECTED',
      'Expected `interval_seconds` to be an integer 0-604800',
    ],
  ],
  wake_agent: [[ADMIN, () => ({ schedule: 'now' }), 'INVALID_PARAMS', 'Expected `schedule` to be an object']],
  submit_plan: [
    [
      OWNER,
      (f) => ({ cycle_id: f.actingCycleId, text: ' ', tools: [] }),
      'REDUCER_REJECTED',
      'Expected `text` to be non-empty',
    ],
    [
      OWNER,
      (f) => ({ cycle_id: f.triagingCycleId, text: 'plan', tools: [] }),
      'REDUCER_REJECTED',
      'a plan is submitted while acting',
    ],
  ],
  decide_plan: [
    [
      ADMIN,
      (f) => ({ plan_id: f.planId, approve: false, reason: '' }),
      'REDUCER_REJECTED',
      'Expected `reason` to be non-empty',
    ],
    [ADMIN, () => ({ plan_id: 999, approve: true, reason: '' }), 'REDUCER_REJECTED', 'Plan 999 does not exist'],
    [
      'UXClaw',
      (f) => ({ plan_id: f.planId, approve: true, reason: '' }),
      'REDUCER_REJECTED',
      'UXClaw may not decide plans',
    ],
  ],
  withdraw_plan: [['UXClaw', (f) => ({ plan_id: f.planId }), 'REDUCER_REJECTED', 'belongs to DevClaw']],
  set_plan_approver: [
    [
      ADMIN,
      () => ({ agent: 'Ghost', allowed: true }),
      'REDUCER_REJECTED',
      'Expected `agent` to name a registered agent',
    ],
  ],
  record_hook_run: [
    [
      OWNER,
      () => ({ hook: 'tests', event: 'task_completed', verdict: 'reject', reason: '' }),
      'REDUCER_REJECTED',
      'Expected `reason` to be non-empty',
    ],
    [
      OWNER,
      () => ({ hook: 'tests', event: 'deploy', verdict: 'pass', reason: '' }),
      'REDUCER_REJECTED',
      'Expected `event` to be one of task_created, task_completed, agent_idle',
    ],
    [
      OWNER,
      () => ({ hook: '../x', event: 'agent_idle', verdict: 'pass', reason: '' }),
      'REDUCER_REJECTED',
      'Expected `hook` to be a name',
    ],
  ],
  set_reaction: [
    [
      OWNER,
      () => ({ event: 'anything', priority: 1, enabled: true }),
      'REDUCER_REJECTED',
      'Expected `event` to be one of task_failed, task_completed, hook_rejected, attention_expired',
    ],
  ],
};

/** A valid, not yet recorded `record_inference_call` for DevClaw, with some fields replaced. */
function recorded(overrides: Record<string, unknown>): Record<string, unknown> {
  return inferenceCallArgs({ request_id: 'c0ffee00-1234-4abc-8def-0123456789ab', ...overrides });
}

/** A valid `record_inference` call for DevClaw, with some fields replaced. */
function usage(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    agent: 'DevClaw',
    host: 'gpu',
    model: 'm',
    priority_class: 'act',
    prompt_tokens: 10,
    completion_tokens: 1,
    duration_ms: 12,
    request_id: '4f6c2a6e-0b1d-4c39-9a51-2f7e8d9c0a1b',
    method: 'generate',
    outcome: 'ok',
    cached_prompt_tokens: 4,
    queued_ms: 2,
    ...overrides,
  };
}

describe('bad input to every reducer', () => {
  it('has cases for every client reducer', () => {
    const { database } = createFixture();
    expect(Object.keys(BAD_INPUT).sort()).toEqual(database.reducerNames().sort());
    database.close();
  });

  for (const [reducer, cases] of Object.entries(BAD_INPUT)) {
    it.each(cases.map((entry) => [entry[3], ...entry] as const))(`${reducer}: %s`, (_, caller, args, code, message) => {
      const fixture = createFixture();
      const before = snapshot(fixture.database);
      let caught: unknown;
      try {
        fixture.database.callReducer(caller, reducer, args(fixture));
      } catch (error) {
        caught = error;
      }
      expect(isClawError(caught), String(caught)).toBe(true);
      expect({ code: (caught as { code: string }).code, message: (caught as Error).message }).toMatchObject({
        code,
        message: expect.stringContaining(message),
      });
      expect(snapshot(fixture.database)).toEqual(before);
      fixture.database.close();
    });
  }

  it('rejects calls that are not reducer calls at all', () => {
    const { database } = createFixture();
    const codeOf = (call: () => unknown) => {
      try {
        call();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return 'no error';
    };
    expect(codeOf(() => database.callReducer(OWNER, 'drop_everything', {}))).toBe('UNKNOWN_REDUCER');
    expect(codeOf(() => database.callReducer(OWNER, 'init', {}))).toBe('FORBIDDEN');
    expect(codeOf(() => database.callReducer(OWNER, 'client_connected', {}))).toBe('FORBIDDEN');
    expect(codeOf(() => database.callReducer(OWNER, 'agent_heartbeat', [] as never))).toBe('INVALID_PARAMS');
    expect(codeOf(() => database.callReducer('', 'agent_heartbeat', { status: 'x' }))).toBe('INVALID_PARAMS');
    expect(codeOf(() => database.query(OWNER, 'no_such_table'))).toBe('NOT_FOUND');
    expect(codeOf(() => database.query(OWNER, 'task', { colour: 'red' }))).toBe('INVALID_PARAMS');
    expect(codeOf(() => database.query(OWNER, 'task', { id: 'one' }))).toBe('INVALID_PARAMS');
    database.close();
  });
});
