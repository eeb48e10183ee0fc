import { statfs } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem, uptime } from 'node:os';
import { ClawError, type JsonValue } from '@clawfleet/protocol';
import { z } from 'zod';
import { type AnyAgentTool, defineTool } from '../tool.ts';

const MIB = 1024 * 1024;

/**
 * `system.health`: a read-only view of the machine (load, memory, the shared workspace's disk) and
 * of the orchestrator's inference (slot pool and queue, over `inference.status`). It changes
 * nothing; no tool restarts or reconfigures anything.
 */
export function createSystemTools(): AnyAgentTool[] {
  const health = defineTool({
    name: 'system.health',
    description:
      'Read system health: load average, memory, free disk of the workspace, and the inference slot pool and queue.',
    argsSchema: z.strictObject({}),
    sideEffect: false,
    async run(_args, context) {
      const [one, five, fifteen] = loadavg() as [number, number, number];
      const disk = await statfs(context.sharedDir);
      let inference: JsonValue;
      try {
        inference = await context.system.inferenceStatus({ signal: context.signal });
      } catch (error) {
        const failure = ClawError.from(error);
        inference = { error: failure.code, message: failure.message };
      }
      const output = {
        load: { one, five, fifteen, cores: cpus().length },
        memory: { totalMiB: Math.round(totalmem() / MIB), freeMiB: Math.round(freemem() / MIB) },
        disk: {
          totalMiB: Math.round((disk.blocks * disk.bsize) / MIB),
          freeMiB: Math.round((disk.bavail * disk.bsize) / MIB),
        },
        uptimeSeconds: Math.round(uptime()),
        inference,
      };
      const text = [
        `load ${one.toFixed(2)} ${five.toFixed(2)} ${fifteen.toFixed(2)} on ${output.load.cores} cores`,
        `memory ${output.memory.freeMiB} MiB free of ${output.memory.totalMiB} MiB`,
        `disk ${output.disk.freeMiB} MiB free of ${output.disk.totalMiB} MiB`,
        `inference ${JSON.stringify(inference)}`,
      ].join('\n');
      return { output, text };
    },
  });
  return [health];
}
