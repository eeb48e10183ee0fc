/**
 * The embedded compose stack on a real Docker engine, the way a user runs it (docs/containers.md):
 * the images built from this checkout, `docker compose -f compose.yaml -f compose.embedded.yaml up`,
 * a stimulus through `claw` inside the orchestrator container answered with a reflection, an agent
 * container whose process is killed restarted by compose and working again, and `down -v` leaving no
 * container, volume or network of the project behind.
 *
 * The base image: CLAW_BASE_IMAGE, else `node:20-bookworm-slim` or `clawfleet/node-base:20-bookworm`
 * when present, else a pull of the public image, else the offline base made by
 * containers/make-offline-base.sh (root and debootstrap). Images are tagged `:docker-test-<checkout>`
 * and kept, with the build cache, so a rerun builds in seconds; CLAW_DOCKER_TEST_REMOVE_IMAGES=1
 * removes them.
 * Skipped, with the reason printed, where no engine, compose v2 or base image can be had.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const project = `claw-docker-test-${randomBytes(4).toString('hex')}`;
const PUBLIC_BASE = 'node:20-bookworm-slim';
const OFFLINE_BASE = 'clawfleet/node-base:20-bookworm';
/**
 * Tagged per checkout: kept between runs (with the build cache, a rerun builds in seconds), and never
 * replaced under a run from another checkout on the same engine.
 */
const TAG = `docker-test-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
const IMAGES = { agent: `clawfleet/agent:${TAG}`, orchestrator: `clawfleet/orchestrator:${TAG}` };
const AGENTS = readdirSync(join(root, 'packages/agents'), { withFileTypes: true })
  .filter(
    (entry) => entry.isDirectory() && readdirSync(join(root, 'packages/agents', entry.name)).includes('agent.json'),
  )
  .map((entry) => entry.name);

/** What an agent's definition asks of its container (agent.json `container`), with the runtimes' defaults. */
function containerRequest(agent: string): { network: boolean; memoryBytes: number; pids: number } {
  const definition = JSON.parse(readFileSync(join(root, 'packages/agents', agent, 'agent.json'), 'utf8')) as {
    container?: { network?: boolean; memoryMb?: number; pids?: number };
  };
  return {
    network: definition.container?.network === true,
    memoryBytes: (definition.container?.memoryMb ?? 512) * 1024 * 1024,
    pids: definition.container?.pids ?? 256,
  };
}

function succeeds(command: string, args: string[], timeout = 30_000): boolean {
  return spawnSync(command, args, { stdio: 'ignore', timeout }).status === 0;
}

function imageExists(image: string): boolean {
  return succeeds('docker', ['image', 'inspect', image]);
}

/** The base image to build on, or how one will be made; a reason when none can be had. */
function chooseBase(): { image: string; make: boolean } | { skip: string } {
  if (!succeeds('docker', ['info'])) return { skip: 'no Docker engine answers `docker info`' };
  if (!succeeds('docker', ['compose', 'version'])) return { skip: 'compose v2 (`docker compose`) is not installed' };
  const fromEnvironment = process.env.CLAW_BASE_IMAGE;
  if (fromEnvironment) {
    return imageExists(fromEnvironment) || succeeds('docker', ['pull', fromEnvironment], 300_000)
      ? { image: fromEnvironment, make: false }
      : { skip: `CLAW_BASE_IMAGE=${fromEnvironment} is neither present nor pullable` };
  }
  for (const image of [PUBLIC_BASE, OFFLINE_BASE]) if (imageExists(image)) return { image, make: false };
  if (succeeds('docker', ['pull', PUBLIC_BASE], 300_000)) return { image: PUBLIC_BASE, make: false };
  if (process.getuid?.() !== 0) return { skip: `${PUBLIC_BASE} cannot be pulled and the offline base needs root` };
  if (!succeeds('debootstrap', ['--version'])) {
    return { skip: `${PUBLIC_BASE} cannot be pulled and debootstrap (for the offline base) is not installed` };
  }
  return { image: OFFLINE_BASE, make: true };
}

const base = chooseBase();
const skipReason = 'skip' in base ? base.skip : undefined;
if (skipReason !== undefined) console.info(`[docker tier] compose stack skipped: ${skipReason}`);

/** The environment compose runs with: ours, and nothing from the caller's CLAW_* or COMPOSE_* settings. */
function composeEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CLAW_') && !key.startsWith('COMPOSE_') && !key.startsWith('SPACETIMEDB_')) {
      environment[key] = value;
    }
  }
  return {
    ...environment,
    CLAW_BASE_IMAGE: 'image' in base ? base.image : '',
    CLAW_AGENT_IMAGE: IMAGES.agent,
    CLAW_ORCHESTRATOR_IMAGE: IMAGES.orchestrator,
    CLAW_LOG_LEVEL: 'info',
    // Any free host port for the HTTP API: other stacks may run beside this one.
    CLAW_HTTP_PUBLISH_PORT: '',
  };
}

async function compose(args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await run(
    'docker',
    ['compose', '-p', project, '-f', 'compose.yaml', '-f', 'compose.embedded.yaml', ...args],
    { cwd: root, env: composeEnvironment(), timeout, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

async function docker(args: string[], timeout = 60_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** `claw` inside the orchestrator container, as a user runs it there. */
async function claw(args: string[], timeout = 120_000): Promise<string> {
  return compose(['exec', '-T', 'orchestrator', 'claw', ...args], timeout);
}

async function agentsOnline(): Promise<Record<string, boolean>> {
  const rows = JSON.parse(await claw(['db', 'sql', 'SELECT name, online FROM agent', '--json'])) as {
    name: string;
    online: boolean | number;
  }[];
  return Object.fromEntries(rows.map((row) => [row.name, row.online === true || row.online === 1]));
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 2_000));
  }
  throw new Error(
    `${what}: not reached in ${timeoutMs} ms (last: ${JSON.stringify(last)}${lastError ? `, error: ${String(lastError)}` : ''})`,
  );
}

async function containerOf(service: string): Promise<string> {
  return (await compose(['ps', '-q', service])).trim();
}

interface Inspected {
  Id: string;
  RestartCount: number;
  State: { Running: boolean };
  Config: { User: string };
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    SecurityOpt: string[] | null;
    NetworkMode: string;
    Memory: number;
    PidsLimit: number | null;
    Init: boolean | null;
    RestartPolicy: { Name: string };
  };
}

async function inspect(container: string): Promise<Inspected> {
  return (JSON.parse(await docker(['inspect', container])) as Inspected[])[0]!;
}

interface Trail {
  stimulus: { id: number };
  cycles: { agent: string; phase: string }[];
  reflections: { id: number; agent: string; text: string }[];
  complete: boolean;
}

async function stimulusAnswered(text: string): Promise<Trail> {
  const output = await claw(['stimulus', text, '--to', 'OpsClaw', '--wait', '--timeout', '4m', '--json'], 300_000);
  return JSON.parse(output) as Trail;
}

/**
 * Stimuli for OpsClaw until one ends in a reflection. The generated model's decisions are noise, and
 * a stimulus triaged `ignore` is done without one (by design); every stimulus must still be followed
 * to its end (`complete`: each cycle at rest, each that acted reflected).
 */
async function reflectedStimulus(text: string): Promise<{ trail: Trail; attempts: number }> {
  const decisions: string[] = [];
  for (let attempt = 1; attempt <= 6; attempt += 1) {
    const trail = await stimulusAnswered(`${text} (${attempt})`);
    expect(trail.complete).toBe(true);
    if (trail.reflections.some((reflection) => reflection.agent === 'OpsClaw')) return { trail, attempts: attempt };
    decisions.push(trail.cycles.map((cycle) => `${cycle.agent}:${cycle.phase}`).join(','));
  }
  throw new Error(`no reflection after 6 stimuli (cycles: ${decisions.join(' | ')})`);
}

describe.skipIf(skipReason !== undefined)(
  `compose: the embedded stack on a real engine${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const previousImages = new Map<string, string | undefined>();

    beforeAll(async () => {
      if (!('image' in base)) return;
      if (base.make) {
        const started = Date.now();
        await run('bash', [join(root, 'containers/make-offline-base.sh')], { timeout: 600_000 });
        console.info(`[docker tier] offline base ${base.image} made in ${Math.round((Date.now() - started) / 1000)} s`);
      }
      for (const image of Object.values(IMAGES)) {
        previousImages.set(
          image,
          imageExists(image) ? await docker(['image', 'inspect', '-f', '{{.Id}}', image]) : undefined,
        );
      }
      let started = Date.now();
      await compose(['build'], 1_200_000);
      console.info(`[docker tier] images built on ${base.image} in ${Math.round((Date.now() - started) / 1000)} s`);
      started = Date.now();
      await compose(['up', '--detach', '--wait', '--wait-timeout', '300'], 360_000);
      console.info(
        `[docker tier] stack up (orchestrator healthy, agents running) in ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }, 1_800_000);

    afterAll(async () => {
      // The last test tears down and checks; this is the safety net when a test before it failed.
      await compose(
        ['--profile', 'spacetimedb', 'down', '--volumes', '--remove-orphans', '--timeout', '10'],
        120_000,
      ).catch(() => undefined);
      for (const [image, previous] of previousImages) {
        // A rebuild leaves the image it replaced untagged: ours, so removed.
        if (previous !== undefined && imageExists(previous)) {
          const tags = await docker(['image', 'inspect', '-f', '{{len .RepoTags}}', previous]).catch(() => '1');
          if (tags === '0') await docker(['image', 'rm', previous]).catch(() => undefined);
        }
        if (process.env.CLAW_DOCKER_TEST_REMOVE_IMAGES === '1')
          await docker(['image', 'rm', image]).catch(() => undefined);
      }
    }, 180_000);

    it('runs every agent of packages/agents in its own hardened container, online on the bus', async () => {
      const config = JSON.parse(await compose(['config', '--format', 'json'])) as {
        services: Record<string, { environment?: Record<string, string> }>;
      };
      const agentServices = Object.entries(config.services).filter(
        ([, service]) => service.environment?.CLAW_AGENT_NAME,
      );
      expect(agentServices.map(([, service]) => service.environment?.CLAW_AGENT_NAME).sort()).toEqual(
        [...AGENTS].sort(),
      );
      expect(Object.keys(config.services)).not.toContain('spacetimedb');

      for (const [service, definition] of agentServices) {
        const request = containerRequest(definition.environment!.CLAW_AGENT_NAME!);
        const container = await inspect(await containerOf(service));
        expect(container.State.Running, service).toBe(true);
        expect(container.Config.User, service).toBe('10001:10001');
        expect(container.HostConfig, service).toMatchObject({
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges:true'],
          // As its agent.json asks (none of the five asks for a network).
          NetworkMode: request.network ? expect.not.stringMatching(/^none$/) : 'none',
          Memory: request.memoryBytes,
          PidsLimit: request.pids,
          Init: true,
          RestartPolicy: { Name: 'unless-stopped' },
        });
      }
      const online = await eventually(
        'all agents online',
        agentsOnline,
        (agents) => AGENTS.every((name) => agents[name]),
        120_000,
      );
      expect(Object.keys(online).sort()).toEqual([...AGENTS].sort());
    }, 300_000);

    it('answers a stimulus given with claw inside the orchestrator container, ending in a reflection', async () => {
      const { trail } = await reflectedStimulus('Check the disk space');
      expect(trail.cycles.map((cycle) => cycle.agent)).toContain('OpsClaw');
      const reflection = trail.reflections.find((row) => row.agent === 'OpsClaw')!;
      expect(reflection.agent).toBe('OpsClaw');
      expect(reflection.text.length).toBeGreaterThan(0);

      // The reflection is in the database, where `claw reflections` reads it.
      const stored = JSON.parse(await claw(['reflections', 'OpsClaw', '--json'])) as { id: number }[];
      expect(stored.map((row) => Number(row.id))).toContain(Number(reflection.id));
    }, 360_000);

    it("gives each agent its own token and no view of the orchestrator's data, files or network", async () => {
      const tokens = JSON.parse(
        await compose(['exec', '-T', 'orchestrator', 'cat', '/var/lib/clawfleet/tokens.json']),
      ) as Record<string, string>;
      const probe = [
        'ls -A /run/clawfleet/token',
        'cat /run/clawfleet/token/token',
        'ls -A /run/clawfleet/socket',
        'ls /sys/class/net',
        'test -e /var/lib/clawfleet/tokens.json && echo DATA-VISIBLE || echo no-data',
        'touch /app/written 2>&1 || true',
      ].join('; echo ---; ');
      for (const [service, agent] of [
        ['devclaw', 'DevClaw'],
        ['opsclaw', 'OpsClaw'],
      ] as const) {
        const sections = (await compose(['exec', '-T', service, 'sh', '-c', probe]))
          .split('---\n')
          .map((part) => part.trim());
        expect(sections[0], agent).toBe('token');
        expect(sections[1], agent).toBe(tokens[agent]);
        expect(sections[2], agent).toBe('orchestrator.sock');
        expect(sections[3], agent).toBe('lo');
        expect(sections[4], agent).toBe('no-data');
        expect(sections[5], agent).toMatch(/Read-only file system/);
      }
      expect(tokens.DevClaw).not.toBe(tokens.OpsClaw);

      // Workspaces as in the process runtime: each agent writes its own, reads the others'.
      await compose([
        'exec',
        '-T',
        'devclaw',
        'sh',
        '-c',
        'echo reviewed > /workspace/shared/agents/DevClaw/notes.txt',
      ]);
      expect(
        (await compose(['exec', '-T', 'uxclaw', 'cat', '/workspace/shared/agents/DevClaw/notes.txt'])).trim(),
      ).toBe('reviewed');
      const intrusion = await compose([
        'exec',
        '-T',
        'uxclaw',
        'sh',
        '-c',
        '{ echo x > /workspace/shared/agents/DevClaw/notes.txt; echo x > /workspace/shared/top.txt; } 2>&1; true',
      ]);
      expect(intrusion.match(/Read-only file system/g)?.length).toBe(2);

      // Each agent's state (its embedding cache) is a volume of its own, which no other agent sees.
      await compose(['exec', '-T', 'devclaw', 'sh', '-c', 'echo vectors > "$CLAW_AGENT_STATE_DIR/probe"']);
      expect((await compose(['exec', '-T', 'devclaw', 'sh', '-c', 'cat "$CLAW_AGENT_STATE_DIR/probe"'])).trim()).toBe(
        'vectors',
      );
      expect(
        (await compose(['exec', '-T', 'uxclaw', 'sh', '-c', 'ls -A "$CLAW_AGENT_STATE_DIR"; echo end'])).trim(),
      ).toBe('end');
    }, 120_000);

    it('restarts an agent container whose process was killed, and the agent answers again', async () => {
      const container = await containerOf('opsclaw');
      const before = await inspect(container);
      // A crash from inside (the OOM killer, a segfault): docker-init (PID 1) exits with its child,
      // and the restart policy applies. `docker kill` would count as a manual stop and not restart.
      await compose(['exec', '-T', 'opsclaw', 'sh', '-c', 'kill -KILL $(cat /proc/1/task/1/children)']).catch(
        () => undefined,
      );
      const after = await eventually(
        'OpsClaw container restarted',
        () => inspect(container),
        (state) => state.RestartCount > before.RestartCount && state.State.Running,
        120_000,
      );
      expect(after.Id).toBe(before.Id);
      await eventually('OpsClaw online again', agentsOnline, (agents) => agents.OpsClaw === true, 120_000);

      // Answered by the restarted process: its cycles and reflection are new rows after the kill.
      const { trail } = await reflectedStimulus('Check the memory use');
      expect(trail.reflections.map((reflection) => reflection.agent)).toContain('OpsClaw');
    }, 420_000);

    it("serves the HTTP API on the host's loopback, to the CLI's token only", async () => {
      const published = (await compose(['port', 'orchestrator', '8470'])).trim();
      expect(published).toMatch(/^127\.0\.0\.1:\d+$/);
      const tokens = JSON.parse(
        await compose(['exec', '-T', 'orchestrator', 'cat', '/var/lib/clawfleet/tokens.json']),
      ) as Record<string, string>;
      const refused = await fetch(`http://${published}/api/status`);
      expect(refused.status).toBe(401);
      const status = await fetch(`http://${published}/api/status`, {
        headers: { authorization: `Bearer ${tokens.cli}` },
      });
      expect(status.status).toBe(200);
      expect(JSON.stringify(await status.json())).toContain('OpsClaw');
    }, 120_000);

    it("publishes db-module with compose's one-shot: the first run mints the owner, the next publishes as that owner", async () => {
      // A stand-in for SpacetimeDB's HTTP API on the project's network (no SpacetimeDB image can be
      // had here): it answers the publish script's three routes and logs what it was sent.
      const standIn = `${project}-spacetimedb`;
      const server = [
        "require('node:http').createServer((request, response) => {",
        "  let size = 0; request.on('data', (chunk) => { size += chunk.length; });",
        "  request.on('end', () => {",
        '    console.log(JSON.stringify({ method: request.method, url: request.url, authorization: request.headers.authorization, size }));',
        "    response.setHeader('content-type', 'application/json');",
        "    if (request.url === '/v1/health') return response.end(JSON.stringify({ version: '2.10.0' }));",
        "    if (request.url === '/v1/identity') return response.end(JSON.stringify({ identity: 'c200aa', token: 'owner-token-minted-once' }));",
        "    response.end('{}');",
        '  });',
        '}).listen(3000);',
      ].join('\n');
      await docker([
        'run',
        '--detach',
        '--name',
        standIn,
        '--label',
        `com.docker.compose.project=${project}`,
        '--network',
        `${project}_default`,
        '--network-alias',
        'spacetimedb',
        '--entrypoint',
        'node',
        IMAGES.orchestrator,
        '-e',
        server,
      ]);
      try {
        for (let run = 0; run < 2; run += 1) {
          const output = await compose(['run', '--rm', '--no-deps', 'db-publish'], 180_000);
          expect(output).toMatch(/Published to SpacetimeDB 2\.10\.0 as the owner whose token is in/);
        }
        const requests = (await docker(['logs', standIn]))
          .split('\n')
          .map((line) => JSON.parse(line) as { method: string; url: string; authorization?: string; size: number });
        expect(requests.filter((request) => request.url === '/v1/identity')).toHaveLength(1);
        const uploads = requests.filter((request) => request.method === 'PUT');
        expect(uploads.map((upload) => upload.url)).toEqual([
          '/v1/database/clawfleet?host_type=Js&policy=Compatible',
          '/v1/database/clawfleet?host_type=Js&policy=Compatible',
        ]);
        expect(uploads.map((upload) => upload.authorization)).toEqual([
          'Bearer owner-token-minted-once',
          'Bearer owner-token-minted-once',
        ]);
        expect(uploads[0]!.size).toBeGreaterThan(10_000);
      } finally {
        await docker(['rm', '--force', standIn]).catch(() => undefined);
      }
    }, 420_000);

    it('tears down leaving no container, volume or network of the project', async () => {
      // With the profile, so the publisher's volumes (created by `run db-publish`) go too.
      await compose(['--profile', 'spacetimedb', 'down', '--volumes', '--remove-orphans', '--timeout', '10'], 120_000);
      const label = `label=com.docker.compose.project=${project}`;
      expect(await docker(['ps', '--all', '--quiet', '--filter', label])).toBe('');
      expect(await docker(['volume', 'ls', '--quiet', '--filter', label])).toBe('');
      expect(await docker(['network', 'ls', '--quiet', '--filter', label])).toBe('');
    }, 180_000);
  },
);
