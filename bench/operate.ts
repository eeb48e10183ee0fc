/**
 * `npm run bench -- operate [--quick]`: Clawfleet run as users run it, each figure against the same
 * figure measured without the CLI (or without the build) in the same run.
 *
 * - up: `claw up --detach` until the five agents are ready (online, their loop idle), process
 *   runtime, generated tiny model; from the build (`dist/runtime`, what `npm start` runs) and from the
 *   sources (tsx). Baseline: the bundled orchestrator started directly (`node dist/runtime/orchestrator.js`,
 *   as a container runs it), timed to the same moment: what `claw` itself adds. Target < 5 s.
 * - rss: each agent's resident memory at rest (VmRSS, 3 s after ready), from the build and from the
 *   sources. Target < 80 MB.
 * - stimulus: `claw stimulus "..." --to <agent>` (a `claw` process per stimulus, as a person or a
 *   script runs it) until the agent's cycle for it starts (triage started), p50/p99. Baseline: the
 *   same stimulus written straight to the bus (`create_stimulus` over the orchestrator's socket as the
 *   CLI identity). Each round waits until its agent is idle, so no queue wait is measured.
 *
 * - container runtime: `claw up --runtime docker --detach` (five hardened agent containers from the
 *   `clawfleet/agent` image) until the five agents are ready, and each agent's node process's RSS,
 *   beside the process runtime's figures. Measured where an engine answers and the image exists;
 *   otherwise the benchmark says why. Everything it creates carries its own stack label and is removed.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type BusClient, EmbeddedBusClient } from '@clawfleet/bus-client';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { buildRuntime } from '../scripts/build.ts';
import { loadAverage } from './support/run-options.ts';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

const root = resolve(import.meta.dirname, '..');
const FLEET = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'] as const;
const UP_TARGET_MS = 5_000;
const RSS_TARGET_MB = 80;
const READY_TIMEOUT_MS = 120_000;
const run$ = promisify(execFile);

type Code = 'build' | 'sources';

interface Scratch {
  directory: string;
  modelPath: string;
  runtime: string;
}

/** The environment of a fleet on `dataDirectory`: the tiny model, 1 thread, 2 slots, CPU, none of the shell's CLAW_*. */
function fleetEnvironment(scratch: Scratch, dataDirectory: string, code: Code): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CLAW_')) environment[key] = value;
  return {
    ...environment,
    CLAW_DATA_DIR: dataDirectory,
    CLAW_MODEL_PATH: scratch.modelPath,
    CLAW_THREADS: '1',
    CLAW_SLOTS: '2',
    CLAW_GPU: 'cpu',
    ...(code === 'sources' ? { CLAW_FROM_SOURCE: '1' } : {}),
  };
}

/** `claw` from the build in `scratch.runtime`, or from the sources through the checkout's bin (CLAW_FROM_SOURCE=1). */
function clawCommand(scratch: Scratch, code: Code): string[] {
  return code === 'build' ? [join(scratch.runtime, 'claw.js')] : [join(root, 'packages/cli/bin/claw.js')];
}

/** The CLI's view of a running fleet, over the orchestrator's socket as the `cli` identity. */
class FleetWatch {
  readonly #bus: BusClient;
  readonly #stimulusText = new Map<string, string>();
  readonly #waiters = new Map<string, (at: number) => void>();

  private constructor(bus: BusClient) {
    this.#bus = bus;
  }

  static async open(dataDirectory: string): Promise<FleetWatch> {
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const bus = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      name: 'cli',
      token: tokens.cli!,
      reconnect: false,
    });
    const watch = new FleetWatch(bus);
    const subscription = bus.subscribe(
      ['SELECT * FROM agent', 'SELECT * FROM agent_status', 'SELECT * FROM stimulus', 'SELECT * FROM cycle'],
      {
        onInsert: (row, table) => {
          const at = performance.now();
          if (table === 'stimulus') watch.#stimulusText.set(String(row.id), row.text);
          if (table === 'cycle') {
            const stimulusId = /^stimulus:(\d+)$/.exec(row.trigger_key)?.[1];
            const text = stimulusId === undefined ? undefined : watch.#stimulusText.get(stimulusId);
            if (text !== undefined) watch.#waiters.get(text)?.(at);
          }
        },
      },
    );
    await subscription.ready;
    return watch;
  }

  get bus(): BusClient {
    return this.#bus;
  }

  /** All five agents online with their loop idle and nothing queued. */
  ready(): boolean {
    return FLEET.every((name) => this.idle(name));
  }

  idle(agent: string): boolean {
    const online = this.#bus.rows('agent').some((row) => row.name === agent && row.online);
    const status = this.#bus.rows('agent_status').find((row) => row.agent === agent);
    return online && status?.phase === 'idle' && status.queue_length === 0;
  }

  async until(condition: () => boolean, what: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  /** Resolves with the time the cycle for the stimulus with this text was seen starting. */
  triageStarted(text: string): Promise<number> {
    return new Promise((resolveSeen) => {
      this.#waiters.set(text, (at) => {
        this.#waiters.delete(text);
        resolveSeen(at);
      });
    });
  }

  dispose(): Promise<void> {
    return this.#bus.dispose();
  }
}

/** Waits until the socket and tokens exist and a watch connects, then until the fleet is ready. */
async function watchUntilReady(dataDirectory: string, started: number): Promise<{ watch: FleetWatch; ms: number }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let watch: FleetWatch | undefined;
  while (watch === undefined) {
    if (Date.now() > deadline) throw new Error(`no orchestrator answered on ${dataDirectory}`);
    if (existsSync(join(dataDirectory, 'run', 'orchestrator.sock')) && existsSync(join(dataDirectory, 'tokens.json'))) {
      watch = await FleetWatch.open(dataDirectory).catch(() => undefined);
    }
    if (watch === undefined) await sleep(5);
  }
  await watch.until(() => watch.ready(), 'five agents ready');
  return { watch, ms: performance.now() - started };
}

function residentMegabytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1]) / 1024;
}

function agentRss(dataDirectory: string): number[] {
  return FLEET.map((agent) =>
    residentMegabytes(Number(readFileSync(join(dataDirectory, 'agents', `${agent}.pid`), 'utf8'))),
  );
}

interface Fleet {
  dataDirectory: string;
  watch: FleetWatch;
  upMs: number;
  stop(): Promise<void>;
}

/** `claw up --detach`, timed until the five agents are ready. */
async function clawUp(scratch: Scratch, code: Code, docker?: { stack: string }): Promise<Fleet> {
  const dataDirectory = mkdtempSync(join(scratch.directory, `up-${docker ? 'docker' : code}-`));
  const environment = {
    ...fleetEnvironment(scratch, dataDirectory, code),
    ...(docker ? { CLAW_STACK: docker.stack } : {}),
  };
  const started = performance.now();
  const runtime = docker ? ['--runtime', 'docker'] : [];
  const up = spawn(process.execPath, [...clawCommand(scratch, code), 'up', '--detach', ...runtime], {
    cwd: root,
    env: environment,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  up.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolveExit) => up.once('exit', (exitCode) => resolveExit(exitCode)));
  const { watch, ms } = await Promise.race([
    watchUntilReady(dataDirectory, started),
    exited.then((exitCode) =>
      exitCode === 0
        ? new Promise<never>(() => {})
        : Promise.reject(new Error(`claw up exited ${exitCode}: ${stderr}`)),
    ),
  ]);
  await exited;
  return {
    dataDirectory,
    watch,
    upMs: ms,
    async stop() {
      await watch.dispose();
      await run$(process.execPath, [...clawCommand(scratch, code), 'down'], { cwd: root, env: environment });
    },
  };
}

/** The baseline: the bundled orchestrator started directly, as a container runs it: the same code without `claw`. */
async function directUp(scratch: Scratch): Promise<Fleet> {
  const dataDirectory = mkdtempSync(join(scratch.directory, 'up-direct-'));
  const started = performance.now();
  const orchestrator = spawn(process.execPath, [join(scratch.runtime, 'orchestrator.js')], {
    cwd: root,
    env: { ...fleetEnvironment(scratch, dataDirectory, 'build'), CLAW_LOG_FORMAT: 'json' },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolveExit) =>
    orchestrator.once('exit', (exitCode) => resolveExit(exitCode)),
  );
  const { watch, ms } = await Promise.race([
    watchUntilReady(dataDirectory, started),
    exited.then((exitCode) => Promise.reject(new Error(`the orchestrator exited ${exitCode} before ready`))),
  ]);
  return {
    dataDirectory,
    watch,
    upMs: ms,
    async stop() {
      await watch.dispose();
      orchestrator.kill('SIGTERM');
      await exited;
    },
  };
}

async function stimulusRounds(
  scratch: Scratch,
  fleet: Fleet,
  rounds: number,
): Promise<{ cli: number[]; cliSources: number[]; direct: number[] }> {
  const environment = fleetEnvironment(scratch, fleet.dataDirectory, 'build');
  const samples = { cli: [] as number[], cliSources: [] as number[], direct: [] as number[] };
  const paths = ['direct', 'cli', 'cliSources'] as const;
  for (let index = 0; index < rounds * paths.length; index += 1) {
    const path = paths[index % paths.length]!;
    const agent = FLEET[index % FLEET.length]!;
    await fleet.watch.until(() => fleet.watch.idle(agent), `${agent} idle`);
    const text = `operate bench round ${index} (${path}): note the time and do nothing else`;
    const seen = fleet.watch.triageStarted(text);
    const started = performance.now();
    if (path === 'direct') {
      await fleet.watch.bus.reducers.createStimulus({
        source: 'cli',
        kind: 'message',
        text,
        priority: 7,
        target_agent: agent,
      });
    } else {
      const code: Code = path === 'cli' ? 'build' : 'sources';
      await run$(process.execPath, [...clawCommand(scratch, code), 'stimulus', text, '--to', agent], {
        cwd: root,
        env: { ...environment, ...(code === 'sources' ? { CLAW_FROM_SOURCE: '1' } : {}) },
      });
    }
    samples[path].push((await seen) - started);
  }
  return samples;
}

/** After a failed run: the orchestrator (its lock file names it) and agents (pid files) of every fleet, by pid. */
function killLeftovers(directory: string): void {
  const pidsIn = (dataDirectory: string): number[] => {
    const pids: number[] = [];
    const lock = join(dataDirectory, 'orchestrator.lock');
    if (existsSync(lock)) pids.push(Number((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid));
    const agents = join(dataDirectory, 'agents');
    if (existsSync(agents))
      for (const file of readdirSync(agents).filter((name) => name.endsWith('.pid')))
        pids.push(Number(readFileSync(join(agents, file), 'utf8')));
    return pids;
  };
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dataDirectory = join(directory, entry.name);
    for (const pid of pidsIn(dataDirectory)) {
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
      try {
        // Only a process of this fleet (its environment names the data directory), never a reused pid.
        if (!readFileSync(`/proc/${pid}/environ`, 'utf8').includes(dataDirectory)) continue;
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

/** Why the container runtime cannot be measured here, or undefined when it can. */
async function dockerUnavailable(scratch: Scratch): Promise<string | undefined> {
  const { stdout } = await run$(process.execPath, [join(scratch.runtime, 'claw.js'), 'up', '--help'], { cwd: root });
  if (!/--runtime/.test(stdout)) return '`claw up` on this checkout has no --runtime option';
  try {
    await run$('docker', ['image', 'inspect', AGENT_IMAGE]);
  } catch {
    return `no Docker engine answers, or it has no ${AGENT_IMAGE} image (containers/Dockerfile, target agent)`;
  }
  return undefined;
}

const AGENT_IMAGE = 'clawfleet/agent';
const STACK_LABEL = 'dev.clawfleet.stack';

/** VmRSS of the node process in each agent container of `stack` (the container's first process is its init). */
async function dockerAgentRss(stack: string): Promise<number[]> {
  const { stdout } = await run$('docker', ['ps', '-q', '--filter', `label=${STACK_LABEL}=${stack}`]);
  const rss: number[] = [];
  for (const id of stdout.split('\n').filter(Boolean)) {
    const pid = Number((await run$('docker', ['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
    const node = [pid, ...childrenOf(pid)].find(
      (candidate) => readFileSync(`/proc/${candidate}/comm`, 'utf8').trim() === 'node',
    );
    if (node !== undefined) rss.push(residentMegabytes(node));
  }
  return rss;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Removes what a docker run of this benchmark left on the engine (containers, volumes), by its stack label. */
async function removeStack(stack: string): Promise<void> {
  const filter = `label=${STACK_LABEL}=${stack}`;
  const containers = (await run$('docker', ['ps', '-aq', '--filter', filter]).catch(() => ({ stdout: '' }))).stdout;
  for (const id of containers.split('\n').filter(Boolean)) await run$('docker', ['rm', '-f', id]).catch(() => {});
  const volumes = (await run$('docker', ['volume', 'ls', '-q', '--filter', filter]).catch(() => ({ stdout: '' })))
    .stdout;
  for (const name of volumes.split('\n').filter(Boolean))
    await run$('docker', ['volume', 'rm', '-f', name]).catch(() => {});
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const starts = quick ? 1 : 3;
  const rounds = quick ? 8 : 30;
  console.log(`# operate benchmark${quick ? ' (--quick)' : ''}`);
  console.log(`machine: ${await machineDescription()}`);
  console.log(`load average at start: ${loadAverage()}`);

  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-operate-'));
  // The build under test goes next to dist/runtime (same depth below the root), never over a developer's.
  const scratch: Scratch = {
    directory,
    modelPath: join(directory, 'tiny.gguf'),
    runtime: join(root, 'dist', `bench-runtime-${process.pid}`),
  };
  try {
    await writeTinyModel(scratch.modelPath);
    const buildStarted = performance.now();
    await buildRuntime(scratch.runtime);
    console.log(`build: ${format(performance.now() - buildStarted, 0)} ms (npm run build)`);

    // up + rss: the three ways of starting take turns, `starts` times each.
    const up: Record<'build' | 'sources' | 'direct', number[]> = { build: [], sources: [], direct: [] };
    const rss: Record<'build' | 'sources', number[]> = { build: [], sources: [] };
    for (let index = 0; index < starts; index += 1) {
      for (const way of ['direct', 'build', 'sources'] as const) {
        const fleet = way === 'direct' ? await directUp(scratch) : await clawUp(scratch, way);
        try {
          up[way].push(fleet.upMs);
          if (way !== 'direct') {
            await sleep(3_000);
            rss[way].push(...agentRss(fleet.dataDirectory));
          }
        } finally {
          await fleet.stop();
        }
      }
    }
    const median = (values: number[]) => percentile(values, 0.5);
    console.log('\n## up: start to five agents ready (process runtime, tiny model)');
    console.log(
      table(
        ['way', 'runs', 'median ms', 'min ms', 'max ms', 'vs direct', `target < ${UP_TARGET_MS} ms`],
        (['build', 'sources', 'direct'] as const).map((way) => [
          way === 'build'
            ? 'claw up --detach (build, what npm start runs)'
            : way === 'sources'
              ? 'claw up --detach (sources, tsx)'
              : 'baseline: node dist/runtime/orchestrator.js, no claw',
          up[way].length,
          format(median(up[way]), 0),
          format(Math.min(...up[way]), 0),
          format(Math.max(...up[way]), 0),
          `${format(median(up[way]) / median(up.direct), 2)}x`,
          way === 'direct' ? '-' : median(up[way]) < UP_TARGET_MS ? 'met' : 'missed',
        ]),
      ),
    );
    console.log('\n## rss: agent resident memory at rest (five agents per start)');
    console.log(
      table(
        ['code', 'agents', 'median MB', 'min MB', 'max MB', `target < ${RSS_TARGET_MB} MB`],
        (['build', 'sources'] as const).map((code) => [
          code === 'build' ? 'build (dist/runtime/agent.js)' : 'baseline: sources through tsx',
          rss[code].length,
          format(median(rss[code]), 1),
          format(Math.min(...rss[code]), 1),
          format(Math.max(...rss[code]), 1),
          Math.max(...rss[code]) < RSS_TARGET_MB ? 'met' : 'missed',
        ]),
      ),
    );

    // stimulus: one fleet from the build, the three paths interleaved.
    const fleet = await clawUp(scratch, 'build');
    let samples: Awaited<ReturnType<typeof stimulusRounds>>;
    try {
      samples = await stimulusRounds(scratch, fleet, rounds);
    } finally {
      await fleet.stop();
    }
    console.log(`\n## stimulus: written -> triage started, five idle agents in turn, ${rounds} rounds per path`);
    const direct = samples.direct;
    console.log(
      table(
        ['path', 'p50 ms', 'p99 ms', 'max ms', 'p50 vs direct'],
        [
          ['claw stimulus (build)', samples.cli],
          ['claw stimulus (sources, tsx)', samples.cliSources],
          ['baseline: create_stimulus straight to the bus', direct],
        ].map(([name, values]) => [
          name as string,
          format(percentile(values as number[], 0.5), 1),
          format(percentile(values as number[], 0.99), 1),
          format(Math.max(...(values as number[])), 1),
          `${format(percentile(values as number[], 0.5) / percentile(direct, 0.5), 1)}x`,
        ]),
      ),
    );

    console.log('\n## container runtime: claw up --runtime docker --detach (build), five agent containers');
    const unavailable = await dockerUnavailable(scratch);
    if (unavailable !== undefined) {
      console.log(`not measured: ${unavailable} (process runtime only)`);
    } else {
      const dockerUp: number[] = [];
      const dockerRss: number[] = [];
      for (let index = 0; index < starts; index += 1) {
        const stack = `bench-operate-${process.pid}-${index}`;
        try {
          const fleet = await clawUp(scratch, 'build', { stack });
          try {
            dockerUp.push(fleet.upMs);
            await sleep(3_000);
            dockerRss.push(...(await dockerAgentRss(stack)));
          } finally {
            await fleet.stop();
          }
        } finally {
          await removeStack(stack);
        }
      }
      console.log(
        table(
          ['figure', 'runs', 'median', 'min', 'max', 'process runtime (above)', 'target'],
          [
            [
              'up to five agents ready, ms',
              dockerUp.length,
              format(median(dockerUp), 0),
              format(Math.min(...dockerUp), 0),
              format(Math.max(...dockerUp), 0),
              `${format(median(up.build), 0)} (${format(median(dockerUp) / median(up.build), 2)}x)`,
              `< ${UP_TARGET_MS}`,
            ],
            [
              'agent RSS at rest, MB',
              dockerRss.length,
              format(median(dockerRss), 1),
              format(Math.min(...dockerRss), 1),
              format(Math.max(...dockerRss), 1),
              format(median(rss.build), 1),
              `< ${RSS_TARGET_MB} (${Math.max(...dockerRss) < RSS_TARGET_MB ? 'met' : 'missed'})`,
            ],
          ],
        ),
      );
    }
  } finally {
    killLeftovers(directory);
    rmSync(scratch.runtime, { recursive: true, force: true });
    rmSync(directory, { recursive: true, force: true });
  }
  console.log(`\nload average at end: ${loadAverage()}`);
}
