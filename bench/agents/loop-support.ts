/**
 * Shared parts of the agent-loop sections: an embedded bus hosted in this process on a temp socket
 * (real SQLite, real IPC), a toolbox of one harmless tool, and an instant inference that answers in
 * the shape each phase asks for (triage: act; act: one tool call, then finish; reflect: a plain
 * reflection), so the loop's own cost is measured without a model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoopInference, StructuredReply } from '@clawfleet/agent-runtime';
import { phaseOfSchema } from '@clawfleet/agent-runtime/testing';
import { defineTool, ToolRegistry } from '@clawfleet/agent-tools';
import { type AgentDefinition, loadAgent } from '@clawfleet/agents';
import { type BusClient, EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { z } from 'zod';

export const BENCH_TOKEN = 'bench-token';
export const FLEET = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'] as const;

export interface HostedBus {
  directory: string;
  socketPath: string;
  database: EmbeddedDatabase;
  admin: BusClient;
  connect(name: string): Promise<BusClient>;
  dispose(): Promise<void>;
}

export async function hostBus(agents: readonly string[] = FLEET): Promise<HostedBus> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-loop-'));
  const socketPath = join(directory, 'bus.sock');
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === BENCH_TOKEN });
  const service = new BusService({ database, server, identityForName });
  await server.listen();
  const clients: BusClient[] = [];
  const connect = async (name: string) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: BENCH_TOKEN, reconnect: false });
    clients.push(client);
    return client;
  };
  const admin = await connect('orchestrator');
  for (const name of agents) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'bench' });
  }
  return {
    directory,
    socketPath,
    database,
    admin,
    connect,
    async dispose() {
      for (const client of clients) await client.dispose().catch(() => {});
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export const benchTools = new ToolRegistry([
  defineTool({
    name: 'bench.echo',
    description: 'returns its text',
    argsSchema: z.strictObject({ text: z.string().max(200) }),
    sideEffect: false,
    run: async (args) => ({ output: { text: args.text }, text: args.text }),
  }),
]);

/** An agent definition for the bench: the built-in one with the bench tool and no schedule. */
export function benchAgent(name: string, wakeOnAnything = false): AgentDefinition {
  const base = loadAgent(FLEET.includes(name as (typeof FLEET)[number]) ? name : 'DevClaw');
  return {
    ...base,
    name,
    tools: ['bench.echo'],
    approvalRequiredFor: [],
    hooks: [],
    reactions: [],
    wakeUp: { stimulusKinds: wakeOnAnything ? ['*'] : [], taskTags: [], scheduleSeconds: 0 },
    limits: { stepsPerCycle: 4, tokensPerCycle: 1_000_000, tokensPerHour: 1_000_000_000, identicalCalls: 3 },
  };
}

/** Instant answers in each phase's shape; `decision` is what triage says. */
export class InstantInference implements LoopInference {
  constructor(readonly decision: 'act' | 'ignore') {}

  async structured(prompt: string, schema: Record<string, unknown>): Promise<StructuredReply> {
    const phase = phaseOfSchema(schema);
    const reply = (value: unknown): StructuredReply => ({
      value,
      modelId: 'instant',
      tokensIn: 10,
      tokensOut: 5,
      stopReason: 'eos',
    });
    if (phase === 'triage') {
      return reply({
        decision: this.decision,
        priority: '5',
        reason: 'bench',
        delegate_to: 'none',
        message: '',
        defer_minutes: '0',
      });
    }
    if (phase === 'act') {
      return prompt.includes('(nothing yet)')
        ? reply({ action: 'tool', tool: 'bench.echo', args: '{"text":"hi"}', outcome: 'none', summary: '' })
        : reply({ action: 'finish', tool: 'none', args: '', outcome: 'success', summary: 'done' });
    }
    return reply({ summary: 'done', outcome: 'success', lessons: '', importance: '0.1', tags: ['bench'] });
  }
}
