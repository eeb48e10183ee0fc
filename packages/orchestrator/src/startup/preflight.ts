import { readdirSync, statSync } from 'node:fs';
import { GENERATED_MODEL, type OrchestratorConfig } from '../config/config.ts';
import { ggufRequiredBytes } from './gguf-extent.ts';
import { EXIT_CODES, StartupError } from './startup-error.ts';

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Checks what can be checked in milliseconds, before the database opens and the inference worker
 * is forked (which takes seconds): the socket path, each configured model file (there, a regular
 * file, GGUF, a supported version, as long as its tensor table says), a CUDA device when one is
 * required, and a memory budget that can hold the largest model's weights. Each failure is a
 * StartupError: one line with the problem and the fix, and the exit code of its class. The worker
 * still checks each model fully (tensor data extent, architecture) when it starts.
 */
export function preflight(config: OrchestratorConfig, devices: { cudaDevices(): string[] } = systemDevices): void {
  const socketBytes = Buffer.byteLength(config.socketPath);
  if (socketBytes > MAX_SOCKET_PATH_BYTES) {
    throw new StartupError(
      'SOCKET_PATH_INVALID',
      EXIT_CODES.config,
      `Socket path is ${socketBytes} bytes; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}: ${config.socketPath}`,
      'Set CLAW_SOCKET (or `socketPath`) to a shorter path, or use a shorter CLAW_DATA_DIR.',
      { path: config.socketPath },
    );
  }
  let largest: { id: string; bytes: number } | undefined;
  for (const model of config.models) {
    if (model.path === GENERATED_MODEL) continue;
    const bytes = checkModelFile(model.id, model.path);
    if (!largest || bytes > largest.bytes) largest = { id: model.id, bytes };
  }
  if (config.gpu === 'cuda' && devices.cudaDevices().length === 0) {
    throw new StartupError(
      'CONFIG_INVALID',
      EXIT_CODES.unavailable,
      'CLAW_GPU=cuda (or `gpu: "cuda"`) but no CUDA device was found (no /dev/nvidia0: no NVIDIA driver, or the GPU is not passed to this container).',
      'Install the NVIDIA driver or pass the GPU through (docker --gpus all), or set CLAW_GPU=auto to fall back to the CPU.',
    );
  }
  if (largest && config.memoryBudgetBytes !== undefined && config.memoryBudgetBytes < largest.bytes) {
    throw new StartupError(
      'INSUFFICIENT_MEMORY',
      EXIT_CODES.config,
      `Memory budget ${mebibytes(config.memoryBudgetBytes)} MiB is smaller than model \`${largest.id}\` (${mebibytes(largest.bytes)} MiB of weights alone).`,
      `Raise CLAW_MEMORY_BUDGET_MB (or \`memoryBudgetBytes\`) above ${Math.ceil(largest.bytes / 1048576) + 1} MiB, or configure a smaller model.`,
      { modelId: largest.id },
    );
  }
}

/** Returns the model file's size, or throws naming the file and what to do. */
function checkModelFile(id: string, path: string): number {
  let size: number;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    size = stats.size;
  } catch (error) {
    throw new StartupError(
      'MODEL_NOT_FOUND',
      EXIT_CODES.noInput,
      `Model \`${id}\`: ${path} ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`}.`,
      'Fix CLAW_MODEL_PATH (or `models[].path`), or use `generated` for the built-in tiny model.',
      { modelId: id, path },
    );
  }
  const invalid = (problem: string) =>
    new StartupError(
      'MODEL_INVALID',
      EXIT_CODES.dataError,
      `Model \`${id}\`: ${path} ${problem}.`,
      'Point CLAW_MODEL_PATH (or `models[].path`) at a complete GGUF model file (download it again if it was cut short).',
      { modelId: id, path, sizeBytes: size },
    );
  let extent: ReturnType<typeof ggufRequiredBytes>;
  try {
    extent = ggufRequiredBytes(path);
  } catch (error) {
    const reason = (error as Error).message;
    throw invalid(
      reason.startsWith('ends inside')
        ? `is truncated: it ${reason}`
        : `is not a valid GGUF file: it ${reason.replace(/^not a GGUF file$/, 'does not start with GGUF')}`,
    );
  }
  if (extent.tensors === 0) throw invalid('holds no tensors');
  if (extent.fileBytes < extent.requiredBytes) {
    throw invalid(
      `is truncated: it is ${extent.fileBytes} bytes, its ${extent.tensors} tensors need ${extent.requiredBytes}`,
    );
  }
  return size;
}

const systemDevices = {
  cudaDevices(): string[] {
    try {
      return readdirSync('/dev').filter((name) => /^nvidia\d+$/.test(name));
    } catch {
      return [];
    }
  },
};

function mebibytes(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
