/**
 * `claw doctor`'s look through the orchestrator's eyes, as a process of its own: the CLI may not
 * import node-llama-cpp (only the orchestrator package does), so it runs this file by path and reads
 * one JSON line from stdout. It loads the orchestrator's configuration from the same environment,
 * checks every configured model file as the inference worker would, and reports the GPU as
 * node-llama-cpp sees it. It writes nothing (a generated model that does not exist yet is reported,
 * not created).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { tinyModelFileName } from '@clawfleet/tiny-model';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { GENERATED_MODEL, loadConfig } from '../config/config.ts';
import { checkModelFile } from '../inference/worker/model-file-check.ts';
import { preflight } from '../startup/index.ts';

export interface DoctorReport {
  config: { ok: boolean; message: string };
  gpu?: { requested: string; backend: string; devices: string[]; vramTotalBytes: number; ok: boolean; message: string };
  models: { id: string; path: string; ok: boolean; message: string }[];
}

async function examine(): Promise<DoctorReport> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    return { config: { ok: false, message: ClawError.from(error).message }, models: [] };
  }
  const report: DoctorReport = {
    config: { ok: true, message: `data directory ${config.dataDirectory}, ${config.models.length} model(s)` },
    models: [],
  };
  // The start-up checks first: they read only file headers, so a corrupt file is named in
  // milliseconds before node-llama-cpp parses it (a garbage header can keep its parser busy).
  const refused = new Map<string, string>();
  for (;;) {
    try {
      preflight({ ...config, models: config.models.filter((model) => !refused.has(model.id)) });
      break;
    } catch (error) {
      const clawError = ClawError.from(error);
      const modelId = clawError.details.modelId;
      if (typeof modelId !== 'string' || refused.has(modelId)) {
        return { config: { ok: false, message: clawError.message }, models: [] };
      }
      refused.set(modelId, clawError.message);
      // A budget below the largest model is reported on that model; there is nothing more to learn.
      if (clawError.code === 'INSUFFICIENT_MEMORY') break;
    }
  }
  const llama = await getLlama({
    gpu: config.gpu === false ? false : 'auto',
    build: 'never',
    maxThreads: 1,
    logLevel: LlamaLogLevel.disabled,
  });
  const devices = await llama.getGpuDeviceNames().catch(() => [] as string[]);
  const vram = await llama.getVramState().catch(() => ({ total: 0 }));
  const backend = llama.gpu === false ? 'cpu' : llama.gpu;
  const requested = config.gpu === false ? 'cpu' : config.gpu;
  const cudaMissing = requested === 'cuda' && backend !== 'cuda';
  report.gpu = {
    requested,
    backend,
    devices,
    vramTotalBytes: vram.total,
    ok: !cudaMissing,
    message: cudaMissing
      ? `gpu is set to cuda but node-llama-cpp found ${backend === 'cpu' ? 'no usable GPU' : backend}`
      : backend === 'cpu'
        ? 'llama.cpp runs on the CPU'
        : `llama.cpp uses ${backend}: ${devices.join(', ') || 'unnamed device'}`,
  };
  for (const model of config.models) {
    const path =
      model.path === GENERATED_MODEL ? join(config.generatedModelsDirectory, tinyModelFileName()) : model.path;
    const refusal = refused.get(model.id);
    if (refusal !== undefined) {
      report.models.push({ id: model.id, path, ok: false, message: refusal });
      continue;
    }
    if (model.path === GENERATED_MODEL && !existsSync(path)) {
      report.models.push({
        id: model.id,
        path,
        ok: true,
        message: 'the generated tiny model; written at the next start',
      });
      continue;
    }
    try {
      const insights = await checkModelFile(llama, path);
      report.models.push({
        id: model.id,
        path,
        ok: true,
        message: `valid GGUF, ${Math.round(insights.modelSize / 1024)} KiB of weights`,
      });
    } catch (error) {
      report.models.push({ id: model.id, path, ok: false, message: ClawError.from(error).message });
    }
  }
  await llama.dispose();
  return report;
}

process.stdout.write(`${JSON.stringify(await examine())}\n`);
