/**
 * CLI: `tsx packages/tiny-model/src/bin/generate-model.ts <output.gguf> [--seed n] [--embedding-length n] ...`
 * Exit codes: 0 written, 2 bad arguments, 1 anything else.
 */
import { resolve } from 'node:path';
import { isClawError } from '@clawfleet/protocol';
import { GENERATE_MODEL_USAGE, parseGenerateModelArguments } from '../generate-model-arguments.ts';
import { writeTinyModel } from '../write-tiny-model.ts';

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseGenerateModelArguments>;
  try {
    parsed = parseGenerateModelArguments(argv);
  } catch (error) {
    process.stderr.write(`generate-model: ${(error as Error).message}\n\n${GENERATE_MODEL_USAGE}\n`);
    return isClawError(error, 'CONFIG_INVALID') ? 2 : 1;
  }
  if (parsed.help) {
    process.stdout.write(`${GENERATE_MODEL_USAGE}\n`);
    return 0;
  }
  const path = resolve(parsed.outputPath);
  await writeTinyModel(path, parsed.options);
  process.stdout.write(`${path}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`generate-model: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
