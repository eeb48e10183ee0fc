/**
 * SSE fan-out: 50 clients on GET /events while a writer creates stimuli at a steady rate over the
 * socket; for each stimulus, the time from the writer's reducer call to its row event arriving at each
 * SSE client, against the same time to a bus subscriber over IPC (the bus's own notify path, what every
 * agent waits on), measured in the same run on the same writes.
 */
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { SseReader } from '@clawfleet/http-api/testing';
import { format, percentile, table } from '../support/statistics.ts';
import type { ObserveBenchSection } from './section.ts';

const MARKER = /"text":"observe:(\d+)"/;

export const sseFanoutSection: ObserveBenchSection = {
  name: 'sse',
  title: 'row event latency to 50 SSE clients vs. to a bus subscriber over IPC, under a steady write rate',
  async run({ quick, orchestrator }) {
    const clients = 50;
    const ratePerSecond = 100;
    const seconds = quick ? 3 : 15;
    const sent = new Map<number, number>();
    const sseLatencies: number[] = [];
    const busLatencies: number[] = [];

    const subscriber = await EmbeddedBusClient.connect({
      socketPath: orchestrator.socketPath,
      name: 'OpsClaw',
      token: orchestrator.tokens.OpsClaw!,
      reconnect: false,
    });
    await new Promise<void>((resolve, reject) => {
      subscriber.subscribe('SELECT * FROM stimulus', {
        onApplied: () => resolve(),
        onError: reject,
        onInsert: (row) => {
          const at = performance.now();
          const match = /^observe:(\d+)$/.exec(String(row.text));
          const start = match ? sent.get(Number(match[1])) : undefined;
          if (start !== undefined) busLatencies.push(at - start);
        },
      });
    });
    const readers: SseReader[] = [];
    for (let index = 0; index < clients; index++) {
      const reader = await SseReader.connect(`${orchestrator.url}/events`, {
        authorization: `Bearer ${orchestrator.tokens.cli}`,
      });
      reader.onEvent = (event) => {
        const at = performance.now();
        if (event.event !== 'row') return;
        const match = MARKER.exec(event.data);
        const start = match ? sent.get(Number(match[1])) : undefined;
        if (start !== undefined) sseLatencies.push(at - start);
      };
      readers.push(reader);
    }
    const writer = await EmbeddedBusClient.connect({
      socketPath: orchestrator.socketPath,
      name: 'LeadClaw',
      token: orchestrator.tokens.LeadClaw!,
      reconnect: false,
    });
    const total = ratePerSecond * seconds;
    const intervalMs = 1000 / ratePerSecond;
    const began = performance.now();
    const calls: Promise<void>[] = [];
    for (let sequence = 0; sequence < total; sequence++) {
      const due = began + sequence * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      sent.set(sequence, performance.now());
      calls.push(
        writer.callReducer('create_stimulus', {
          source: 'bench',
          kind: 'message',
          text: `observe:${sequence}`,
          priority: 1,
        } as never),
      );
    }
    await Promise.all(calls);
    const expected = total * clients;
    const deadline = Date.now() + 30_000;
    while ((sseLatencies.length < expected || busLatencies.length < total) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const dropped = readers.filter((reader) => reader.ended).length;
    for (const reader of readers) reader.close();
    await writer.dispose();
    await subscriber.dispose();

    const row = (name: string, values: number[], count: number) => [
      name,
      `${values.length}/${count}`,
      format(percentile(values, 0.5), 2),
      format(percentile(values, 0.99), 2),
      format(Math.max(...values), 2),
    ];
    const ssePercentile = percentile(sseLatencies, 0.99);
    const busPercentile = percentile(busLatencies, 0.99);
    return [
      `${total} stimuli at ${ratePerSecond}/s for ${seconds} s; ${clients} SSE clients (${dropped} dropped); latency from the reducer call to arrival, ms`,
      table(
        ['path', 'delivered', 'p50 ms', 'p99 ms', 'max ms'],
        [
          row('bus subscriber over IPC (baseline)', busLatencies, total),
          row(`SSE, ${clients} clients`, sseLatencies, expected),
        ],
      ),
      `SSE p99 / bus p99: ${format(ssePercentile / busPercentile, 2)}x`,
    ];
  },
};
