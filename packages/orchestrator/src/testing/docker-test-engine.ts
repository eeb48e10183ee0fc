/**
 * A real Docker engine for `*.docker.test.ts`: reachability (a reason to print when there is none),
 * a local Node base image made without any registry, and the agent-fixture image the runtime
 * contract runs in. Not exported from `./testing` (benchmarks import that; this runs docker and the base-image script).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { openDockerEngine } from '../agent-lifecycle/docker/docker-engine.ts';

/** The repository root (containers/ lives there). */
const REPOSITORY = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * The base the fixture image builds on: the offline Node base of containers/make-offline-base.sh
 * (Debian minbase plus this machine's Node), the same one the real images build on here. Kept
 * between runs (making it takes a minute or two); everything else a test makes is removed.
 */
export const TEST_NODE_BASE_IMAGE = 'clawfleet/node-base:20-bookworm';

/** The engine, or why the docker tier cannot run here (printed by the caller, never silent). */
export async function dockerForTests(): Promise<{ docker: Docker; skip?: undefined } | { skip: string }> {
  let docker: Docker;
  try {
    docker = openDockerEngine(process.env.DOCKER_HOST);
  } catch (error) {
    return { skip: (error as Error).message };
  }
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5_000).unref()),
    ]);
  } catch (error) {
    return {
      skip: `no Docker engine answers on ${process.env.DOCKER_HOST ?? '/var/run/docker.sock'} (${(error as Error).message})`,
    };
  }
  return { docker };
}

async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `${what} failed (${command} ${args.join(' ')}): ${result.error?.message ?? result.stderr.slice(-2000)}`,
    );
  }
}

/**
 * The Node base image, made by containers/make-offline-base.sh when the engine does not have it (no
 * image can be pulled here: docs/containers.md). Idempotent, so concurrent test files at worst
 * both make it.
 */
export async function ensureNodeBaseImage(docker: Docker): Promise<string> {
  if (await imageExists(docker, TEST_NODE_BASE_IMAGE)) return TEST_NODE_BASE_IMAGE;
  run(
    'bash',
    [join(REPOSITORY, 'containers', 'make-offline-base.sh')],
    'containers/make-offline-base.sh (needs root, debootstrap and Node 20)',
  );
  return TEST_NODE_BASE_IMAGE;
}

/** A unique tag for a test's fixture image. */
export function fixtureImageTag(): string {
  return `clawfleet-test/agent-fixture:${randomBytes(4).toString('hex')}`;
}

/**
 * The contract's stand-in agent (`agent-fixture.ts`, plain JavaScript) in an image of its own,
 * under `tag`. The caller removes it (`docker.getImage(tag).remove()`).
 */
export function buildFixtureImage(base: string, tag: string): void {
  const context = mkdtempSync(join(tmpdir(), 'claw-fixture-image-'));
  try {
    const fixture = fileURLToPath(new URL('./agent-fixture.ts', import.meta.url));
    writeFileSync(join(context, 'agent-fixture.mjs'), readFileSync(fixture, 'utf8'));
    writeFileSync(
      join(context, 'Dockerfile'),
      `FROM ${base}\nCOPY agent-fixture.mjs /opt/fixture/agent-fixture.mjs\nCMD ["node", "/opt/fixture/agent-fixture.mjs"]\n`,
    );
    run('docker', ['build', '-q', '-t', tag, context], 'docker build of the agent fixture');
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
