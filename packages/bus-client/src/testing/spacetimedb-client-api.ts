/**
 * SpacetimeDB's WebSocket message types (`ClientMessage`, `ServerMessage`) and BSATN reader/writer,
 * taken from the installed `spacetimedb` package itself: the package ships the sources of its
 * generated `client_api` types but exports no runtime value for them, so they are bundled with esbuild
 * from `spacetimedb/src/sdk/client_api/types.ts` once per process. The test server therefore speaks
 * exactly the message layout of the SDK version the client runs, and a protocol change in an SDK
 * update shows up as a failing contract test rather than as a silently stale copy.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
// Types only, from the package's own declarations of the same file.
import type {
  ClientMessage as ClientMessageValue,
  ServerMessage as ServerMessageValue,
} from '../../../../node_modules/spacetimedb/dist/sdk/client_api/types';

export type { ClientMessageValue, ServerMessageValue };

interface Writer {
  getBuffer(): Uint8Array;
  clear(): void;
}
interface BsatnCodec<T> {
  serialize(writer: Writer, value: T): void;
  deserialize(reader: unknown): T;
}

export interface ClientApi {
  ClientMessage: BsatnCodec<ClientMessageValue>;
  ServerMessage: BsatnCodec<ServerMessageValue>;
  BinaryReader: new (data: Uint8Array) => unknown;
  BinaryWriter: new (size: number) => Writer;
}

let loaded: Promise<ClientApi> | undefined;

async function load(): Promise<ClientApi> {
  const packageRoot = dirname(dirname(createRequire(import.meta.url).resolve('spacetimedb')));
  const source = join(packageRoot, 'src');
  const result = await build({
    stdin: {
      contents: [
        `export { ClientMessage, ServerMessage } from ${JSON.stringify(join(source, 'sdk/client_api/types.ts'))};`,
        `export { default as BinaryReader } from ${JSON.stringify(join(source, 'lib/binary_reader.ts'))};`,
        `export { default as BinaryWriter } from ${JSON.stringify(join(source, 'lib/binary_writer.ts'))};`,
      ].join('\n'),
      resolveDir: source,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]?.text;
  if (text === undefined) throw new Error('esbuild produced no output for the SpacetimeDB client API');
  const directory = await mkdtemp(join(tmpdir(), 'claw-stdb-api-'));
  try {
    const file = join(directory, 'client-api.mjs');
    await writeFile(file, text);
    return (await import(pathToFileURL(file).href)) as ClientApi;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The package's message codecs, bundled on first use. */
export function clientApi(): Promise<ClientApi> {
  loaded ??= load();
  return loaded;
}
