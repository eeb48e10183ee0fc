import { stat } from 'node:fs/promises';
import { ClawError } from '@clawfleet/protocol';
import { GgufInsights, type Llama, readGgufFileInfo } from 'node-llama-cpp';

/**
 * Checks a model file before llama.cpp sees it, so the common failures get an error that names
 * the file instead of a native abort or a vague "Failed to load model":
 * - absent or not a regular file -> MODEL_NOT_FOUND;
 * - unreadable header/metadata (bad magic, garbage lengths) -> MODEL_INVALID;
 * - shorter than its tensor table says -> MODEL_INVALID (`readGgufFileInfo` reads only the header
 *   and tensor table, so it accepts a truncated file; the tensor data extent is checked here).
 *
 * Runs in the worker only: it is the one process that imports node-llama-cpp.
 */
export async function checkModelFile(llama: Llama, path: string): Promise<GgufInsights> {
  let size: number;
  try {
    const stats = await stat(path);
    if (!stats.isFile()) {
      throw new ClawError('MODEL_NOT_FOUND', `Model file ${path} is not a regular file`, { details: { path } });
    }
    size = stats.size;
  } catch (error) {
    if (error instanceof ClawError) throw error;
    throw new ClawError('MODEL_NOT_FOUND', `Model file ${path} does not exist or cannot be read`, {
      details: { path },
      cause: error,
    });
  }

  let insights: GgufInsights;
  try {
    const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
    insights = await GgufInsights.from(info, llama);
  } catch (error) {
    throw new ClawError(
      'MODEL_INVALID',
      `Model file ${path} is not a valid GGUF file: ${error instanceof Error ? error.message : String(error)}`,
      { details: { path }, cause: error },
    );
  }

  const info = insights.ggufFileInfo;
  const tensors = info.tensorInfo ?? [];
  if (tensors.length === 0) {
    throw new ClawError('MODEL_INVALID', `Model file ${path} holds no tensors`, { details: { path } });
  }
  // The data section starts at infoEndOffset; tensors lie after it, padded, so the file must be at
  // least as long as the header plus the sum of the tensor sizes, and every tensor must start inside it.
  const dataStart = info.infoEndOffset ?? 0;
  const needed = dataStart + insights.modelSize;
  const lastTensorStart = tensors.reduce((max, tensor) => Math.max(max, Number(tensor.fileOffset)), 0);
  if (size < needed || lastTensorStart >= size) {
    throw new ClawError(
      'MODEL_INVALID',
      `Model file ${path} is truncated: it is ${size} bytes, its tensors need at least ${Math.max(needed, lastTensorStart + 1)}`,
      { details: { path, sizeBytes: size, neededBytes: needed } },
    );
  }
  if (!insights.isSupportedByLlamaCpp) {
    throw new ClawError(
      'MODEL_INVALID',
      `Model file ${path} has architecture \`${String(info.metadata?.general?.architecture)}\`, which this llama.cpp does not support`,
      { details: { path } },
    );
  }
  return insights;
}
