/**
 * One agent process, wired from its config: the agent's definition, its connection to the
 * orchestrator (bus and inference), its memory, its toolbox, and the loop. Nothing here assumes a
 * parent process: the same code runs as the orchestrator's child or alone in a container.
 */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectAgent } from '@clawfleet/agent-connection';
import { createToolRegistry } from '@clawfleet/agent-tools';
import { type AgentDefinition, BUILT_IN_AGENTS_DIRECTORY, loadAgent } from '@clawfleet/agents';
import type { BusClient } from '@clawfleet/bus-client';
import { AgentMemory, InferenceSummarizer, MemoryCompactor } from '@clawfleet/memory';
import type { ClawError, JsonValue, Logger } from '@clawfleet/protocol';
import type { AgentProcessConfig } from '../config.ts';
import { AgentLoop } from '../loop/agent-loop.ts';
import { AgentHeartbeat } from './agent-heartbeat.ts';
import type { WatchedConnection } from './connection-watchdog.ts';
import { loopMemoryOf, toolMemoryOf } from './memory-adapters.ts';

export interface RunningAgent {
  readonly definition: AgentDefinition;
  readonly loop: AgentLoop;
  readonly bus: BusClient;
  /** The one connection to the orchestrator, for its `disconnected`, `reconnected` and `gaveUp` events. */
  readonly connection: WatchedConnection;
  /** Stops the loop (the current cycle stays recorded, to resume), then closes memory and connections. */
  stop(): Promise<void>;
}

export interface AgentProcessHooks {
  /** The loop stopped itself: another instance of this agent took over its runner lease. */
  onRunnerLost?: (error: ClawError) => void;
}

/** Connects, opens the agent's memory, builds its toolbox and starts its loop. */
export async function startAgentProcess(
  config: AgentProcessConfig,
  logger: Logger,
  hooks: AgentProcessHooks = {},
): Promise<RunningAgent> {
  const definition = loadAgent(config.agentName, config.agentsDirectory ?? BUILT_IN_AGENTS_DIRECTORY);
  mkdirSync(config.workspaceDirectory, { recursive: true, mode: 0o700 });
  mkdirSync(config.sharedWorkspaceDirectory, { recursive: true, mode: 0o700 });
  // One authenticated connection carries both the bus and inference (the agent is one peer).
  const connection = await connectAgent({
    socketPath: config.socketPath,
    name: definition.name,
    token: config.token,
    logger,
    requestTimeoutMs: 600_000,
  });
  const { bus, inference } = connection;
  const cleanup: (() => Promise<void>)[] = [() => connection.dispose()];
  // From the first moment connected, through start-up (memory, runner lease) and every cycle after.
  const heartbeat = new AgentHeartbeat({
    bus,
    intervalSeconds: config.heartbeatSeconds,
    logger: logger.child({ component: 'heartbeat' }),
  });
  heartbeat.start();
  cleanup.push(async () => heartbeat[Symbol.dispose]());
  try {
    const memory = await AgentMemory.openOnBus({
      bus,
      inference,
      logger,
      // Vectors outlive a restart, so the agent does not embed all its memories again.
      ...(config.stateDirectory === undefined
        ? {}
        : { embeddingCachePath: join(config.stateDirectory, 'embeddings.bin') }),
    });
    cleanup.push(() => memory.dispose());
    // Short-term entries age into daily, and past its threshold daily memory is compacted into
    // long-term entries, at the lowest inference priority (docs/memory.md, "Compaction").
    const compactor = new MemoryCompactor({ memory, summarizer: new InferenceSummarizer({ inference }), logger });
    const maintenance = compactor.schedule();
    cleanup.push(() => maintenance.dispose());
    const registry = createToolRegistry({
      commands: { commands: definition.commands, searchPath: config.searchPath },
    });
    const toolbox = registry.forAgent(definition.name, definition.tools);
    const toolMemory = toolMemoryOf(memory);
    const system = {
      inferenceStatus: async (options: { signal: AbortSignal }) =>
        (await inference.status({ signal: options.signal })) as unknown as JsonValue,
    };
    const loop = new AgentLoop({
      agent: definition,
      bus,
      inference,
      memory: loopMemoryOf(memory),
      toolbox,
      leaseSeconds: config.taskLeaseSeconds,
      ...(config.contextTokens === undefined ? {} : { contextTokens: config.contextTokens }),
      toolContext: ({ cycleId, step, taskId, signal, logger: stepLogger }) => ({
        agent: definition.name,
        cycleId,
        step,
        ...(taskId === undefined ? {} : { taskId }),
        workspaceDir: config.workspaceDirectory,
        sharedDir: config.sharedWorkspaceDirectory,
        bus,
        memory: toolMemory,
        system,
        signal,
        logger: stepLogger,
      }),
      logger: logger.child({ component: 'loop' }),
      ...(hooks.onRunnerLost === undefined ? {} : { onRunnerLost: hooks.onRunnerLost }),
    });
    await loop.start();
    logger.info({ tools: toolbox.names.length }, 'agent started');
    return {
      definition,
      loop,
      bus,
      connection: connection.ipc,
      async stop() {
        await loop.stop();
        for (const close of cleanup.reverse()) await close().catch(() => {});
      },
    };
  } catch (error) {
    for (const close of cleanup.reverse()) await close().catch(() => {});
    throw error;
  }
}
