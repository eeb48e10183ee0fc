import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import type { Command } from 'commander';
import { z } from 'zod';
import type { CliRuntime } from '../cli-runtime.ts';
import type { CommandContext } from '../command-context.ts';
import { OrchestratorConnection } from '../connection/orchestrator-connection.ts';
import { CommandExit, EXIT_CODES } from '../errors/exit-codes.ts';
import { type ProcessEntry, resolveDoctorCheck } from '../process/orchestrator-entry.ts';

type CheckState = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  name: string;
  state: CheckState;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}

/** The oldest Node the project supports (package.json `engines`). */
const MINIMUM_NODE = [20, 10] as const;

export function registerDoctor(program: Command, runtime: CliRuntime): void {
  program
    .command('doctor')
    .description('check this machine and setup: Node, data directory, socket, models, GPU, Docker, SpacetimeDB')
    .option('--json', 'print the checks as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      const checks: DoctorCheck[] = [
        checkNode(),
        ...checkDataDirectory(context),
        await checkOrchestrator(context),
        ...(await checkModelsAndGpu(context)),
        ...(await checkDocker(context.environment.environment, context.settings)),
        ...(await checkSpacetimeDb(context)),
      ];
      const failed = checks.filter((check) => check.state === 'fail').length;
      if (options.json) {
        context.output.json({
          ok: failed === 0,
          checks: checks.map(({ fix, ...check }) =>
            check.state === 'ok' || fix === undefined ? check : { ...check, fix },
          ),
        });
      } else {
        const { output } = context;
        const { color } = output;
        const mark: Record<CheckState, string> = {
          ok: color.green('ok  '),
          warn: color.yellow('warn'),
          fail: color.red('FAIL'),
          skip: color.dim('skip'),
        };
        for (const check of checks) {
          output.line(`${mark[check.state]}  ${color.bold(check.name)}: ${check.detail}`);
          if (check.fix && check.state !== 'ok') output.line(`      ${color.dim('fix:')} ${check.fix}`);
        }
        output.line(failed === 0 ? color.green('no problems found') : color.red(`${failed} check(s) failed`));
      }
      if (failed > 0) throw new CommandExit(EXIT_CODES.checkFailed);
    });
}

function checkNode(): DoctorCheck {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = major > MINIMUM_NODE[0] || (major === MINIMUM_NODE[0] && minor >= MINIMUM_NODE[1]);
  return {
    name: 'node',
    state: ok ? 'ok' : 'fail',
    detail: `Node ${process.versions.node}${ok ? '' : `; Clawfleet needs ${MINIMUM_NODE.join('.')} or newer`}`,
    fix: `install Node ${MINIMUM_NODE[0]} (${MINIMUM_NODE.join('.')}+) or 22`,
  };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

function checkDataDirectory(context: CommandContext): DoctorCheck[] {
  const { settings } = context;
  const directory = settings.dataDirectory;
  if (!existsSync(directory)) {
    return [
      {
        name: 'data directory',
        state: 'warn',
        detail: `${directory} does not exist yet`,
        fix: '`claw up` creates it (owner-only)',
      },
    ];
  }
  const checks: DoctorCheck[] = [];
  const directoryMode = mode(directory);
  const owner = statSync(directory).uid;
  const uid = process.getuid?.();
  checks.push({
    name: 'data directory',
    state: (directoryMode & 0o077) !== 0 || (uid !== undefined && owner !== uid) ? 'fail' : 'ok',
    detail: `${directory} mode ${directoryMode.toString(8).padStart(4, '0')}${uid !== undefined && owner !== uid ? `, owned by uid ${owner}, not you (${uid})` : ''}`,
    fix: `chmod 700 ${directory}${uid !== undefined && owner !== uid ? ` and run claw as its owner (uid ${owner})` : ''}`,
  });
  if (existsSync(settings.tokensPath)) {
    const tokensMode = mode(settings.tokensPath);
    let hasCli = false;
    try {
      hasCli =
        typeof (JSON.parse(readFileSync(settings.tokensPath, 'utf8')) as Record<string, unknown>).cli === 'string';
    } catch {
      hasCli = false;
    }
    checks.push({
      name: 'tokens file',
      state: (tokensMode & 0o077) !== 0 || !hasCli ? 'fail' : 'ok',
      detail: `${settings.tokensPath} mode ${tokensMode.toString(8).padStart(4, '0')}${hasCli ? '' : ', without a readable `cli` token'}`,
      fix: hasCli
        ? `chmod 600 ${settings.tokensPath}`
        : `remove the \`cli\` entry (or the file) and restart the orchestrator to create it`,
    });
  } else {
    checks.push({
      name: 'tokens file',
      state: 'warn',
      detail: `${settings.tokensPath} does not exist yet`,
      fix: 'the orchestrator writes it at its first start (`claw up`)',
    });
  }
  if (existsSync(settings.socketPath)) {
    const stats = statSync(settings.socketPath);
    const socketMode = stats.mode & 0o777;
    checks.push({
      name: 'socket',
      state: !stats.isSocket() || (socketMode & 0o077) !== 0 ? 'fail' : 'ok',
      detail: `${settings.socketPath} ${stats.isSocket() ? `mode ${socketMode.toString(8).padStart(4, '0')}` : 'is not a socket'}`,
      fix: stats.isSocket()
        ? 'restart the orchestrator (it creates the socket 0600)'
        : `remove ${settings.socketPath}; it is not a socket`,
    });
  }
  return checks;
}

async function checkOrchestrator(context: CommandContext): Promise<DoctorCheck> {
  try {
    const connection = await OrchestratorConnection.connect(context.settings, { timeoutMs: 2000 });
    try {
      const status = await connection.status();
      const models = status.pool.models.map((model) => `${model.id} ${model.state}`).join(', ');
      return { name: 'orchestrator', state: 'ok', detail: `running, pid ${status.pid}; models: ${models}` };
    } finally {
      await connection.close();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const auth = (error as { code?: string }).code === 'AUTH_FAILED';
    return {
      name: 'orchestrator',
      state: auth ? 'fail' : 'warn',
      detail: auth ? message : 'not running',
      fix: auth ? 'use the --data-dir of the running orchestrator' : '`claw up` (or `claw up --detach`)',
    };
  }
}

const doctorReportSchema = z.object({
  config: z.object({ ok: z.boolean(), message: z.string() }),
  gpu: z
    .object({
      requested: z.string(),
      backend: z.string(),
      devices: z.array(z.string()),
      vramTotalBytes: z.number(),
      ok: z.boolean(),
      message: z.string(),
    })
    .optional(),
  models: z.array(z.object({ id: z.string(), path: z.string(), ok: z.boolean(), message: z.string() })),
});

/** Models and GPU through the orchestrator's check script (only it may load node-llama-cpp). */
async function checkModelsAndGpu(context: CommandContext): Promise<DoctorCheck[]> {
  const { settings, environment } = context;
  let script: ProcessEntry;
  try {
    script = resolveDoctorCheck();
  } catch (error) {
    return [{ name: 'models and gpu', state: 'skip', detail: (error as Error).message }];
  }
  const output = await new Promise<{ stdout: string; error?: Error }>((resolveRun) => {
    execFile(
      process.execPath,
      [...script.nodeFlags, script.file],
      {
        cwd: environment.workingDirectory,
        env: { ...environment.environment, CLAW_DATA_DIR: settings.dataDirectory, CLAW_SOCKET: settings.socketPath },
        timeout: 120_000,
        maxBuffer: 4 * 1024 * 1024,
      },
      (error, stdout) => resolveRun(error ? { stdout, error } : { stdout }),
    );
  });
  const lastLine = output.stdout.trim().split('\n').at(-1) ?? '';
  let report: z.infer<typeof doctorReportSchema>;
  try {
    report = doctorReportSchema.parse(JSON.parse(lastLine));
  } catch {
    return [
      {
        name: 'models and gpu',
        state: 'fail',
        detail: `the check could not run: ${output.error?.message.split('\n')[0] ?? 'no report'}`,
        fix: 'run `npm install` in the checkout (node-llama-cpp and its CPU binary must be installed)',
      },
    ];
  }
  if (!report.config.ok) {
    return [
      {
        name: 'configuration',
        state: 'fail',
        detail: report.config.message,
        fix: 'correct it in the environment or the config file (docs/configuration.md)',
      },
    ];
  }
  const checks: DoctorCheck[] = report.models.map((model) => ({
    name: `model ${model.id}`,
    state: model.ok ? 'ok' : 'fail',
    detail: `${model.path}: ${model.message}`,
    fix: 'point CLAW_MODEL_PATH (or `models[].path`) at a complete GGUF file, or use `generated`',
  }));
  if (report.gpu) {
    checks.push({
      name: 'gpu',
      state: report.gpu.ok ? 'ok' : 'fail',
      detail: `${report.gpu.message} (configured: ${report.gpu.requested}${report.gpu.vramTotalBytes > 0 ? `, ${Math.round(report.gpu.vramTotalBytes / 1024 ** 3)} GiB VRAM` : ''})`,
      fix: 'install the NVIDIA driver and node-llama-cpp CUDA binaries, or set CLAW_GPU=auto to use the CPU',
    });
  }
  return checks;
}

/** One GET to the Docker engine over its Unix socket: status and body, or the transport error. */
function engineGet(socketPath: string, path: string): Promise<{ status: number; body: string } | Error> {
  return new Promise((resolveAnswer) => {
    const call = request({ socketPath, path, method: 'GET', timeout: 3000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolveAnswer({ status: response.statusCode ?? 0, body }));
    });
    call.on('timeout', () => call.destroy(new Error('no answer in 3 s')));
    call.on('error', (error) => resolveAnswer(error));
    call.end();
  });
}

/**
 * The Docker engine (`/_ping` and `/version` over DOCKER_HOST's Unix socket or /var/run/docker.sock,
 * without dockerode, which only the orchestrator imports) and, for the docker runtime, the agent
 * image. Without an engine the process runtime still works, so that is a warning unless the
 * configured runtime is docker.
 */
async function checkDocker(
  environment: NodeJS.ProcessEnv,
  settings: CommandContext['settings'],
): Promise<DoctorCheck[]> {
  const needed = settings.runtime === 'docker';
  const host = environment.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) {
    return [
      {
        name: 'docker',
        state: needed ? 'fail' : 'skip',
        detail: `DOCKER_HOST=${host} is not a Unix socket${needed ? '; the docker runtime needs a local engine' : '; not checked'}`,
        fix: 'set DOCKER_HOST to the local engine socket (unix:///var/run/docker.sock)',
      },
    ];
  }
  const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
  const ping = await engineGet(socketPath, '/_ping');
  if (ping instanceof Error || ping.body !== 'OK') {
    return [
      {
        name: 'docker',
        state: needed ? 'fail' : 'warn',
        detail: `no engine on ${socketPath} (${ping instanceof Error ? ping.message : `HTTP ${ping.status} ${ping.body.slice(0, 80)}`}); ${needed ? 'the configured docker runtime needs it' : 'only the docker runtime needs it'}`,
        fix: 'start Docker (`dockerd`, or your service manager), or set DOCKER_HOST',
      },
    ];
  }
  const version = await engineGet(socketPath, '/version');
  let engineVersion = '';
  if (!(version instanceof Error)) {
    try {
      engineVersion = String((JSON.parse(version.body) as { Version?: unknown }).Version ?? '');
    } catch {
      engineVersion = '';
    }
  }
  const checks: DoctorCheck[] = [
    {
      name: 'docker',
      state: 'ok',
      detail: `engine${engineVersion ? ` ${engineVersion}` : ''} answers on ${socketPath}`,
    },
  ];
  const image = await engineGet(
    socketPath,
    `/images/${settings.agentImage.split('/').map(encodeURIComponent).join('/')}/json`,
  );
  const present = !(image instanceof Error) && image.status === 200;
  checks.push({
    name: 'agent image',
    state: present ? 'ok' : needed ? 'fail' : 'warn',
    detail: present
      ? `${settings.agentImage} is on the engine`
      : `${settings.agentImage} is not on the engine${needed ? '' : '; only `claw up --runtime docker` needs it'}`,
    fix: `docker build -f containers/Dockerfile --target agent -t ${settings.agentImage} . (offline: containers/make-offline-base.sh first, then add --build-arg BASE_IMAGE=clawfleet/node-base:20-bookworm)`,
  });
  return checks;
}

async function checkSpacetimeDb(context: CommandContext): Promise<DoctorCheck[]> {
  const { spacetimedbUrl: url, spacetimedbDatabase: database } = context.settings;
  if (!url) {
    return [
      {
        name: 'spacetimedb',
        state: 'skip',
        detail: 'not configured (--server or SPACETIMEDB_URL): the embedded bus is used',
      },
    ];
  }
  const get = async (path: string): Promise<number | Error> => {
    try {
      const response = await fetch(new URL(path, url), { signal: AbortSignal.timeout(5000) });
      return response.status;
    } catch (error) {
      return error as Error;
    }
  };
  const ping = await get('/v1/ping');
  if (ping !== 200) {
    return [
      {
        name: 'spacetimedb',
        state: 'fail',
        detail: `${url} does not answer /v1/ping (${ping instanceof Error ? ping.message : `HTTP ${ping}`})`,
        fix: 'start it (`docker compose up spacetimedb`) or correct --server / SPACETIMEDB_URL',
      },
    ];
  }
  const checks: DoctorCheck[] = [{ name: 'spacetimedb', state: 'ok', detail: `${url} answers` }];
  if (!database) {
    checks.push({
      name: 'spacetimedb module',
      state: 'skip',
      detail: 'no database named (--database or SPACETIMEDB_DATABASE)',
    });
    return checks;
  }
  const published = await get(`/v1/database/${encodeURIComponent(database)}`);
  checks.push({
    name: 'spacetimedb module',
    state: published === 200 ? 'ok' : 'fail',
    detail:
      published === 200
        ? `database ${database} is published`
        : `database ${database} is not published (${published instanceof Error ? published.message : `HTTP ${published}`})`,
    fix: `npm run db:publish -- --server ${url} --database ${database}`,
  });
  return checks;
}
