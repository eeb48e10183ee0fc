/**
 * Loads the module bundle the way SpacetimeDB's JS host does (read from the SpacetimeDB 2.8 sources),
 * as far as Node can: one ES module evaluated in a `node:vm` context that has only the ECMAScript
 * globals plus `TextEncoder`/`TextDecoder`, with `Math.random` deleted; only `spacetime:sys@*` imports
 * resolve (to stubs: every syscall throws, since describing the module needs none); a top-level await
 * left pending is refused. Then the host's steps: `default[moduleHooks](exports)` and
 * `hooks.__describe_module__()`, whose BSATN bytes are decoded with the `spacetimedb` package's own
 * `RawModuleDef` type. A module that touches a Node global or API at load time fails here.
 *
 * `vm.SourceTextModule` exists only under `--experimental-vm-modules`, so this runs in a child process
 * (`loadModuleDefinition` in module-definition.ts starts it).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';

export interface RawModuleDefinition {
  sections: { tag: string; value: unknown }[];
}

interface Codec {
  RawModuleDef: { deserialize(reader: unknown): { tag: string; value: RawModuleDefinition } };
  BinaryReader: new (data: Uint8Array) => unknown;
}

const packageSource = join(dirname(dirname(createRequire(import.meta.url).resolve('spacetimedb'))), 'src');

/** The syscall names each `spacetime:sys@<version>` module declares (the package's server/sys.d.ts). */
async function syscallModules(): Promise<Map<string, string[]>> {
  const text = await readFile(join(packageSource, 'server/sys.d.ts'), 'utf8');
  const modules = new Map<string, string[]>();
  for (const block of text.split(/declare module '/).slice(1)) {
    const name = block.slice(0, block.indexOf("'"));
    const names = [...block.matchAll(/export (?:function|const) ([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]!);
    modules.set(name, [...new Set(names)]);
  }
  return modules;
}

async function codec(): Promise<Codec> {
  const result = await build({
    stdin: {
      contents: [
        `export { RawModuleDef } from ${JSON.stringify(join(packageSource, 'lib/autogen/types.ts'))};`,
        `export { default as BinaryReader } from ${JSON.stringify(join(packageSource, 'lib/binary_reader.ts'))};`,
      ].join('\n'),
      resolveDir: packageSource,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  });
  const module = { exports: {} as Codec };
  new Function('module', 'exports', result.outputFiles[0]!.text)(module, module.exports);
  return module.exports;
}

/** Evaluates the bundle as SpacetimeDB's JS host does and returns its decoded module definition. */
export async function describeInModuleHost(bundle: string): Promise<RawModuleDefinition> {
  const { SourceTextModule, SyntheticModule } = vm as unknown as {
    SourceTextModule?: new (code: string, options: object) => VmModule;
    SyntheticModule: new (exports: string[], evaluate: (this: VmModule) => void, options: object) => VmModule;
  };
  if (SourceTextModule === undefined) {
    throw new Error('The module-host check needs node --experimental-vm-modules (vm.SourceTextModule)');
  }
  const context = vm.createContext({ TextEncoder, TextDecoder });
  vm.runInContext('delete Math.random;', context);
  const syscalls = await syscallModules();
  const moduleHooks = vm.runInContext("Symbol('spacetime:moduleHooks')", context) as symbol;
  const module = new SourceTextModule(bundle, { context, identifier: 'clawfleet-module.js' });
  await module.link((specifier: string) => {
    const names = syscalls.get(specifier);
    if (names === undefined) {
      throw new Error(
        `SpacetimeDB resolves only its spacetime:sys modules; the module imports \`${specifier}\`, which its host does not have`,
      );
    }
    return new SyntheticModule(
      names,
      function (this: VmModule) {
        for (const name of names) {
          this.setExport(
            name,
            name === 'moduleHooks'
              ? moduleHooks
              : () => {
                  throw new Error(`${specifier} ${name} was called while the module was loading or describing itself`);
                },
          );
        }
      },
      { context, identifier: specifier },
    );
  });
  const evaluation = module.evaluate();
  // The host runs the module once and refuses a top-level await still pending afterwards.
  const pending = Symbol('pending');
  const settled = await Promise.race([evaluation.then(() => undefined), new Promise((r) => setImmediate(r, pending))]);
  if (settled === pending)
    throw new Error('The module left a top-level await pending; SpacetimeDB refuses such a module');
  const namespace = module.namespace as { default?: Record<symbol, (exports: object) => HookObject> };
  const exported = namespace.default;
  if (exported === undefined || typeof exported[moduleHooks] !== 'function') {
    throw new Error('The module has no default export with [moduleHooks] (export default schema({...}))');
  }
  const hooks = exported[moduleHooks](namespace);
  if (typeof hooks?.__describe_module__ !== 'function') throw new Error('The module hooks lack __describe_module__');
  const bytes = hooks.__describe_module__();
  const { RawModuleDef, BinaryReader } = await codec();
  const decoded = RawModuleDef.deserialize(new BinaryReader(new Uint8Array(bytes)));
  if (decoded.tag !== 'V10') throw new Error(`Expected a V10 module definition, got ${decoded.tag}`);
  return withoutUnitPayloads(decoded.value) as RawModuleDefinition;
}

/**
 * BSATN decoding gives a unit variant (`{ tag: 'String' }`) an empty payload (`value: {}`); the
 * definition as the module builds it, and as host-neutral descriptions write it, has none.
 */
function withoutUnitPayloads(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUnitPayloads);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) {
    const isUnitPayload =
      key === 'value' &&
      'tag' in record &&
      item !== null &&
      typeof item === 'object' &&
      Object.getPrototypeOf(item) === Object.prototype &&
      Object.keys(item).length === 0;
    if (!isUnitPayload) out[key] = withoutUnitPayloads(item);
  }
  return out;
}

interface VmModule {
  link(linker: (specifier: string) => VmModule): Promise<void>;
  evaluate(): Promise<void>;
  setExport(name: string, value: unknown): void;
  namespace: object;
}

interface HookObject {
  __describe_module__(): Uint8Array;
}

/** JSON with bigints kept (`{"$bigint":"…"}`) and byte arrays as `{"$bytes":[…]}`, for the child process's answer. */
export function toTransferJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return { $bigint: item.toString() };
    if (item instanceof Uint8Array) return { $bytes: [...item] };
    return item;
  });
}

export function fromTransferJson(text: string): unknown {
  return JSON.parse(text, (_key, item: unknown) => {
    if (item && typeof item === 'object' && '$bigint' in item) return BigInt((item as { $bigint: string }).$bigint);
    if (item && typeof item === 'object' && '$bytes' in item)
      return new Uint8Array((item as { $bytes: number[] }).$bytes);
    return item;
  });
}

// `node --experimental-vm-modules --import tsx module-host.ts`: the bundle on stdin, the definition on stdout.
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  try {
    const definition = await describeInModuleHost(Buffer.concat(chunks).toString('utf8'));
    process.stdout.write(toTransferJson(definition));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
