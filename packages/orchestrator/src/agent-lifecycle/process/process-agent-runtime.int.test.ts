import { fileURLToPath } from 'node:url';
import { describeAgentRuntimeContract } from '../../testing/describe-agent-runtime-contract.ts';
import { ProcessAgentRuntime } from './process-agent-runtime.ts';

const fixture = fileURLToPath(new URL('../../testing/agent-fixture.ts', import.meta.url));

describeAgentRuntimeContract('process', {
  createRuntime: (onOutput) =>
    new ProcessAgentRuntime({ entry: fixture, execArgv: ['--import', 'tsx'], cwd: process.cwd(), onOutput }),
});
