import { describeAgentRuntimeContract } from './describe-agent-runtime-contract.ts';
import { FakeAgentRuntime } from './fake-agent-runtime.ts';

describeAgentRuntimeContract('fake', { createRuntime: (onOutput) => new FakeAgentRuntime({ onOutput }) });
