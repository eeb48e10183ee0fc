import type { AgentExit, AgentInstance, AgentLaunchSpec, AgentRuntime } from '../agent-lifecycle/agent-runtime.ts';

/** A fake agent that tests end by hand: `crash(code)` as if it died, or stop/signal as a real one. */
export interface FakeAgentInstance extends AgentInstance {
  readonly spec: AgentLaunchSpec;
  crash(code: number): void;
}

/**
 * AgentRuntime in memory. Its instances behave as `agent-fixture.ts` does for the same
 * CLAW_FIXTURE_BEHAVIOUR, so it passes the same contract suite as the process runtime.
 */
export class FakeAgentRuntime implements AgentRuntime {
  readonly kind = 'fake';
  readonly canAdopt = false;
  readonly launched: FakeAgentInstance[] = [];
  /** Names whose next launch rejects (each entry is used once). */
  readonly failNextLaunch = new Set<string>();
  readonly #onOutput: ((agent: string, stream: 'stdout' | 'stderr', line: string) => void) | undefined;
  #nextId = 1;

  constructor(options: { onOutput?: (agent: string, stream: 'stdout' | 'stderr', line: string) => void } = {}) {
    this.#onOutput = options.onOutput;
  }

  async launch(spec: AgentLaunchSpec): Promise<FakeAgentInstance> {
    if (this.failNextLaunch.delete(spec.agent)) throw new Error(`fake launch of ${spec.agent} failed`);
    const behaviour = spec.environment.CLAW_FIXTURE_BEHAVIOUR ?? 'run';
    let end!: (exit: AgentExit) => void;
    let ended: AgentExit | undefined;
    const exited = new Promise<AgentExit>((resolve) => {
      end = (exit) => {
        if (ended !== undefined) return;
        ended = exit;
        resolve(exit);
      };
    });
    const receive = (signal: 'SIGTERM' | 'SIGKILL'): void => {
      if (signal === 'SIGKILL') end({ code: null, signal: 'SIGKILL' });
      else if (behaviour !== 'ignore-term') end({ code: 0, signal: null });
    };
    const instance: FakeAgentInstance = {
      agent: spec.agent,
      id: `fake ${this.#nextId++}`,
      adopted: false,
      spec,
      exited,
      signal: (signal) => receive(signal),
      crash: (code) => end({ code, signal: null }),
      async stop({ graceMs }) {
        if (ended !== undefined) return ended;
        receive('SIGTERM');
        const timer = setTimeout(() => receive('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      },
    };
    this.launched.push(instance);
    if (behaviour === 'exit-3') queueMicrotask(() => end({ code: 3, signal: null }));
    else {
      if (behaviour === 'print-env')
        this.#onOutput?.(spec.agent, 'stdout', JSON.stringify(Object.keys(spec.environment).sort()));
      this.#onOutput?.(spec.agent, 'stdout', 'fixture ready');
    }
    return instance;
  }
}
