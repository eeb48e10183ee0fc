import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeAgentRuntimeContract } from '../../testing/describe-agent-runtime-contract.ts';
import { ProcessAgentRuntime } from './process-agent-runtime.ts';

const fixture = fileURLToPath(new URL('../../testing/agent-fixture.ts', import.meta.url));

describeAgentRuntimeContract('process', {
  createRuntime: (onOutput) =>
    new ProcessAgentRuntime({ entry: fixture, execArgv: ['--import', 'tsx'], cwd: process.cwd(), onOutput }),
});

describe('ProcessAgentRuntime pid files', () => {
  let readyLines = 0;
  const onOutput = (_agent: string, _stream: string, line: string) => {
    if (line === 'fixture ready') readyLines += 1;
  };
  /** Waits for a 'fixture ready' line after `before` of them: the new fixture's SIGTERM handler is installed. */
  const readyAfter = async (before: number) => {
    for (let attempt = 0; attempt < 500 && readyLines <= before; attempt += 1)
      await new Promise((r) => setTimeout(r, 10));
  };

  it('kills an agent left running by an earlier (killed) orchestrator before starting it again', async () => {
    const pidDirectory = mkdtempSync(join(tmpdir(), 'claw-agent-pids-'));
    try {
      const environment = { PATH: process.env.PATH ?? '/usr/bin:/bin', CLAW_FIXTURE_BEHAVIOUR: 'run' };
      const options = {
        entry: fixture,
        execArgv: ['--import', 'tsx'],
        cwd: process.cwd(),
        pidDirectory,
        onOutput,
      };
      // The first orchestrator's runtime starts DevClaw, then "dies" without stopping it.
      const leftover = await new ProcessAgentRuntime(options).launch({ agent: 'DevClaw', environment });
      const leftoverPid = Number(readFileSync(join(pidDirectory, 'DevClaw.pid'), 'utf8'));
      expect(leftoverPid).toBeGreaterThan(1);
      // A new orchestrator's runtime starts DevClaw again: the leftover goes first.
      const before = readyLines;
      const fresh = await new ProcessAgentRuntime(options).launch({ agent: 'DevClaw', environment });
      expect(await leftover.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(Number(readFileSync(join(pidDirectory, 'DevClaw.pid'), 'utf8'))).not.toBe(leftoverPid);
      await readyAfter(before);
      expect(await fresh.stop({ graceMs: 5_000 })).toEqual({ code: 0, signal: null });
      expect(existsSync(join(pidDirectory, 'DevClaw.pid'))).toBe(false);
    } finally {
      rmSync(pidDirectory, { recursive: true, force: true });
    }
  });

  it('leaves alone a process whose pid the file names but that is not an agent', async () => {
    const pidDirectory = mkdtempSync(join(tmpdir(), 'claw-agent-pids-'));
    try {
      writeFileSync(join(pidDirectory, 'DevClaw.pid'), `${process.pid}\n`);
      const runtime = new ProcessAgentRuntime({
        entry: fixture,
        execArgv: ['--import', 'tsx'],
        cwd: process.cwd(),
        pidDirectory,
        onOutput,
      });
      const before = readyLines;
      const instance = await runtime.launch({
        agent: 'DevClaw',
        environment: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      await readyAfter(before);
      expect(await instance.stop({ graceMs: 5_000 })).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(pidDirectory, { recursive: true, force: true });
    }
  });
});
