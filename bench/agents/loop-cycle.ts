/**
 * One cycle on the generated tiny model, broken into queue wait (stimulus written → triage started),
 * triage, act and reflect (inference time of each phase, as the loop waited for it) and bus time
 * (every reducer call of the cycle). The orchestrator runs in this process with its real worker
 * (node-llama-cpp, 1 thread); the agent is an `AgentLoop` with real bus and inference clients.
 * Baseline, same run: the inference time alone, so `loop overhead` is what the loop adds to it.
 * The tiny model has random weights: its decisions are noise, and many replies are malformed
 * (the table counts how cycles ended), but the time each phase takes is real for its shape.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentLoop, type LoopInference } from '@clawfleet/agent-runtime';
import { phaseOfSchema } from '@clawfleet/agent-runtime/testing';
import { type BusClient, EmbeddedBusClient } from '@clawfleet/bus-client';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient } from '@clawfleet/ipc';
import { loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { silentLogger } from '@clawfleet/protocol';
import { format, percentile, table } from '../support/statistics.ts';
import { benchAgent, benchTools } from './loop-support.ts';
import type { AgentBenchSection } from './section.ts';

interface CycleTimes {
  queue: number;
  triage: number;
  act: number;
  reflect: number;
  bus: number;
  total: number;
}

export const loopCycleSection: AgentBenchSection = {
  name: 'cycle',
  title: 'one cycle on the tiny model: queue wait, triage, act, reflect, bus time, against inference time alone',
  async run({ quick }) {
    const cycles = quick ? 5 : 30;
    const directory = mkdtempSync(join(tmpdir(), 'claw-bench-cycle-'));
    const config = loadConfig(
      {
        CLAW_DATA_DIR: join(directory, 'data'),
        CLAW_THREADS: '1',
        CLAW_SLOTS: '2',
        CLAW_GPU: 'false',
        CLAW_LOG_LEVEL: 'error',
        // The loop measured here is DevClaw's; the orchestrator's own DevClaw process would be a
        // second instance of it (refused now: one runner per agent, Q-074).
        CLAW_START_AGENTS: 'false',
      },
      directory,
    );
    const orchestrator = await Orchestrator.start(config, silentLogger);
    const clients: { dispose(): Promise<void> }[] = [];
    try {
      const tokens = JSON.parse(await readFile(config.tokensPath, 'utf8')) as Record<string, string>;
      const connect = async (name: string): Promise<BusClient> => {
        const client = await EmbeddedBusClient.connect({ socketPath: config.socketPath, name, token: tokens[name]! });
        clients.push(client);
        return client;
      };
      const admin = await connect('orchestrator');
      const bus = await connect('DevClaw');
      const ipc = await IpcClient.connect({
        socketPath: config.socketPath,
        agent: 'DevClaw',
        token: tokens.DevClaw!,
        requestTimeoutMs: 600_000,
      });
      clients.push({ dispose: () => ipc.close() });
      const real = new InferenceClient(ipc);

      // Instruments: inference time per phase of the current cycle, and every reducer call's time.
      const current: CycleTimes = { queue: 0, triage: 0, act: 0, reflect: 0, bus: 0, total: 0 };
      const inference: LoopInference = {
        async structured(prompt, schema, options) {
          const started = performance.now();
          try {
            return await real.structured(prompt, schema, options);
          } finally {
            current[phaseOfSchema(schema)] += performance.now() - started;
          }
        },
      };
      const timedBus = new Proxy(bus, {
        get(target, property, receiver) {
          if (property === 'callReducer') {
            return async (...args: Parameters<BusClient['callReducer']>) => {
              const started = performance.now();
              try {
                return await target.callReducer(...args);
              } finally {
                current.bus += performance.now() - started;
              }
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const definition = benchAgent('DevClaw');
      let triageStarted = 0;
      const loop = new AgentLoop({
        agent: definition,
        bus: timedBus,
        inference,
        memory: { retrieve: async () => [] },
        toolbox: benchTools.forAgent('DevClaw', definition.tools),
        toolContext: ({ cycleId, step, signal, logger }) => ({
          agent: 'DevClaw',
          cycleId,
          step,
          workspaceDir: directory,
          sharedDir: directory,
          bus,
          memory: { search: async () => [], writeNote: async () => ({ id: 0 }), share: async () => {} },
          system: { inferenceStatus: async () => null },
          signal,
          logger,
        }),
        logger: silentLogger,
        onTriageStart: () => {
          triageStarted = performance.now();
        },
      });
      await loop.start();
      const samples: CycleTimes[] = [];
      const endings = new Map<string, number>();
      for (let index = 0; index < cycles; index += 1) {
        Object.assign(current, { queue: 0, triage: 0, act: 0, reflect: 0, bus: 0, total: 0 });
        const before = new Set(bus.rows('cycle').map((row) => row.id));
        const written = performance.now();
        await admin.callReducer('create_stimulus', {
          source: 'bench',
          kind: 'code',
          text: `Fix the failing parser test number ${index}`,
          priority: 5,
          target_agent: 'DevClaw',
        });
        let done: Record<string, unknown> | undefined;
        while (done === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          done = bus.rows('cycle').find((row) => !before.has(row.id) && row.phase === 'done');
        }
        current.total = performance.now() - written;
        current.queue = triageStarted - written;
        samples.push({ ...current });
        const ending = `${String(done.decision ?? 'none')} -> ${String(done.outcome)}${String(done.outcome_detail).includes('malformed') ? ' (malformed)' : ''}`;
        endings.set(ending, (endings.get(ending) ?? 0) + 1);
      }
      await loop.stop();
      const column = (key: keyof CycleTimes) => samples.map((sample) => sample[key]);
      const row = (label: string, values: number[]) => [
        label,
        format(percentile(values, 0.5), 1),
        format(percentile(values, 0.99), 1),
        format(values.reduce((a, b) => a + b, 0) / values.length, 1),
      ];
      const inferenceOnly = samples.map((sample) => sample.triage + sample.act + sample.reflect);
      const overhead = samples.map((sample, index) => sample.total - inferenceOnly[index]!);
      return [
        table(
          ['part', 'p50 ms', 'p99 ms', 'mean ms'],
          [
            row('queue wait (written -> triage)', column('queue')),
            row('triage (inference)', column('triage')),
            row('act (inference)', column('act')),
            row('reflect (inference)', column('reflect')),
            row('bus (reducer calls)', column('bus')),
            row('whole cycle', column('total')),
            row('baseline: inference alone', inferenceOnly),
            row('loop overhead (whole - inference)', overhead),
          ],
        ),
        `cycles: ${cycles}; how they ended: ${[...endings].map(([ending, count]) => `${count}x ${ending}`).join(', ')}`,
        `whole cycle / inference alone (mean): ${format(
          column('total').reduce((a, b) => a + b, 0) /
            Math.max(
              1,
              inferenceOnly.reduce((a, b) => a + b, 0),
            ),
          2,
        )}x`,
      ];
    } finally {
      for (const client of clients.reverse()) await client.dispose().catch(() => {});
      await orchestrator.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  },
};
