/**
 * What an agent restart costs its memory: the time from `AgentMemory.open` until every entry
 * has its vector again, with 10k entries (1k with `--quick`). Embeddings come from the real inference
 * path in this process: the worker running llama.cpp on the generated tiny model (1 thread), the slot
 * pool's embedding lane and the inference service. Baseline, same run, same entries: a start without
 * an embedding cache, which embeds every entry again (what every restart did before). Then a first
 * start with the cache (embeds everything and writes the file) and a restart that reads the file.
 * The tiny model's vectors have 64 dimensions; a real model's 384-1024 make the file and its reading
 * proportionally larger, and its embedding far slower, so the ratio here understates the gain.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentMemory, type EmbeddingCache, FileEmbeddingCache, InferenceEmbedder } from '@clawfleet/memory';
import { InMemoryMemoryDatabase } from '@clawfleet/memory/testing';
import { InferenceService, SlotPool, WorkerBackend } from '@clawfleet/orchestrator';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { format, table } from '../support/statistics.ts';
import type { AgentBenchSection } from './section.ts';

const WORDS =
  'deploy staging backup volume disk alert grafana vpn certificate rotate migration schema index query latency cache worker queue retry timeout build test release review merge branch ticket customer invoice report'.split(
    ' ',
  );

function texts(count: number): string[] {
  let state = 7;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  return Array.from({ length: count }, (_, index) => {
    const words = Array.from({ length: 8 + Math.floor(next() * 8) }, () => WORDS[Math.floor(next() * WORDS.length)]);
    return `Note ${index}: ${words.join(' ')}.`;
  });
}

export const memoryRestartSection: AgentBenchSection = {
  name: 'restart',
  title:
    'memory ready after an agent restart: vectors read from the embedding cache, against embedding every entry again',
  async run({ quick }) {
    const count = quick ? 1_000 : 10_000;
    const directory = mkdtempSync(join(tmpdir(), 'claw-bench-restart-'));
    const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
    const backend = await WorkerBackend.start({ gpu: false, maxThreads: 1, contextThreads: 1 });
    const pool = await SlotPool.create({
      backend,
      models: [{ id: 'tiny', path, contextSize: 512, slots: 1, gpuLayers: 0 }],
    });
    try {
      await pool.preload('tiny');
      const service = new InferenceService({
        pool,
        settings: { agents: { DevClaw: { modelId: 'tiny', sampling: { maxTokens: 64 } } } },
      });
      const inference = {
        embed: (batch: string[], options: { priority?: 'reflect'; signal?: AbortSignal } = {}) =>
          service.embed(
            'DevClaw',
            { texts: batch, priority: options.priority ?? 'reflect' },
            options.signal ? { signal: options.signal } : {},
          ),
      };
      const database = new InMemoryMemoryDatabase();
      const writer = database.storeFor('DevClaw');
      for (const text of texts(count)) await writer.write({ tier: 'daily', text, importance: 0.5, tags: [] });
      await writer.dispose();
      const cachePath = join(directory, 'state', 'embeddings.bin');

      const start = async (cache: EmbeddingCache | undefined) => {
        const started = performance.now();
        const memory = await AgentMemory.open({
          store: database.storeFor('DevClaw'),
          embedder: new InferenceEmbedder({ inference }),
          ...(cache === undefined ? {} : { embeddingCache: cache }),
        });
        await memory.whenIndexed();
        const ms = performance.now() - started;
        const restored = memory.restoredEmbeddings;
        const pending = memory.pendingEmbeddings;
        await memory.dispose();
        if (pending !== 0) throw new Error(`${pending} entries left without a vector`);
        return { ms, restored };
      };
      const baseline = await start(undefined);
      const first = await start(new FileEmbeddingCache({ path: cachePath }));
      const restart = await start(new FileEmbeddingCache({ path: cachePath }));
      const fileBytes = statSync(cachePath).size;
      return [
        table(
          ['start', 'entries embedded', 'read from the cache', 'ms until every entry has its vector'],
          [
            [
              'baseline: no cache (every restart before Q-060)',
              count - baseline.restored,
              baseline.restored,
              format(baseline.ms, 0),
            ],
            [
              'first start with the cache (embeds, writes the file)',
              count - first.restored,
              first.restored,
              format(first.ms, 0),
            ],
            ['restart with the cache', count - restart.restored, restart.restored, format(restart.ms, 0)],
          ],
        ),
        `entries: ${count}; cache file ${format(fileBytes / 1_048_576, 2)} MiB (64 dimensions); restart ${format(
          baseline.ms / restart.ms,
          0,
        )}x faster than embedding again`,
      ];
    } finally {
      await pool.dispose();
      await backend.dispose();
      rmSync(directory, { recursive: true, force: true });
    }
  },
};
