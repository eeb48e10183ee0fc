/**
 * A real Docker engine for `*.docker.test.ts`: reachability (a reason to print when there is none),
 * a local Node base image made without any registry, and the agent-fixture image the runtime
 * contract runs in. Not exported from `./testing` (benchmarks import that; this spawns tar).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { openDockerEngine } from '../agent-lifecycle/docker/docker-engine.ts';

/**
 * The base the fixture image builds on: Debian minbase plus the Node that runs these tests. Kept
 * between runs (making it takes a minute or two); everything else a test makes is removed.
 */
export const TEST_NODE_BASE_IMAGE = `clawfleet-test/node:${process.versions.node}`;

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
 * A Node image with no registry: `debootstrap --variant=minbase bookworm`, imported, with this
 * machine's `node` copied in (docs/environment-notes: no image can be pulled here). Made once.
 */
export async function ensureNodeBaseImage(docker: Docker): Promise<string> {
  if (await imageExists(docker, TEST_NODE_BASE_IMAGE)) return TEST_NODE_BASE_IMAGE;
  const work = mkdtempSync(join(tmpdir(), 'claw-docker-base-'));
  try {
    const root = join(work, 'root');
    const minbase = `${TEST_NODE_BASE_IMAGE}-minbase`;
    run('debootstrap', ['--variant=minbase', 'bookworm', root], 'debootstrap (apt-get install debootstrap)');
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const importer = spawn('docker', ['import', '-', minbase], { stdio: ['pipe', 'ignore', 'inherit'] });
      tar.stdout.pipe(importer.stdin);
      importer.once('error', reject);
      importer.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker import exited ${code}`))));
    });
    const context = join(work, 'context');
    run('mkdir', ['-p', context], 'mkdir');
    copyFileSync(process.execPath, join(context, 'node'));
    writeFileSync(join(context, 'Dockerfile'), `FROM ${minbase}\nCOPY node /usr/local/bin/node\n`);
    run('docker', ['build', '-q', '-t', TEST_NODE_BASE_IMAGE, context], 'docker build of the Node base');
    run('docker', ['rmi', minbase], 'docker rmi of the minbase tag');
    return TEST_NODE_BASE_IMAGE;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
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
