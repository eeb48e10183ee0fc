/**
 * The agent process of the `rss` section: one AgentLoop against the bench's bus socket with instant
 * inference, as a child process of its own so its memory is measured alone. Talks to the parent over
 * the fork channel: `{ type: 'rss' }` → `{ type: 'rss', rss, heapUsed, cycles }` (after a full GC).
 */
import { AgentLoop } from '@clawfleet/agent-runtime';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { silentLogger } from '@clawfleet/protocol';
import { BENCH_TOKEN, benchAgent, benchTools, InstantInference } from './loop-support.ts';

const [socketPath, name] = process.argv.slice(2);
if (socketPath === undefined || name === undefined || process.send === undefined) {
  console.error('usage: (forked) loop-rss-agent.ts <socket> <agent>');
  process.exit(2);
}
const send = process.send.bind(process);

function measure(cycles: number) {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { type: 'rss', rss: usage.rss, heapUsed: usage.heapUsed, cycles };
}

const bus = await EmbeddedBusClient.connect({ socketPath, name, token: BENCH_TOKEN, reconnect: false });
const definition = benchAgent(name);
const loop = new AgentLoop({
  agent: definition,
  bus,
  inference: new InstantInference('act'),
  memory: { retrieve: async () => [] },
  toolbox: benchTools.forAgent(name, definition.tools),
  toolContext: ({ cycleId, step, signal, logger }) => ({
    agent: name,
    cycleId,
    step,
    workspaceDir: '/nonexistent',
    sharedDir: '/nonexistent',
    bus,
    memory: { search: async () => [], writeNote: async () => ({ id: 0 }), share: async () => {} },
    system: { inferenceStatus: async () => null },
    signal,
    logger,
  }),
  logger: silentLogger,
});
await loop.start();
process.on('message', (message: { type?: string }) => {
  if (message.type === 'rss') send(measure(loop.cyclesRun));
  if (message.type === 'stop') {
    void loop.stop().then(async () => {
      await bus.dispose();
      process.exit(0);
    });
  }
});
send({ ...measure(0), type: 'ready' });
