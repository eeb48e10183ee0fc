/**
 * What the loop needs from the outside, as narrow interfaces: the real clients satisfy them in the
 * agent process (agent-main.ts), scripted fakes in tests.
 */
import type { InferencePriority } from '@clawfleet/protocol';
import type { RetrievedMemory } from './prompts/prompts.ts';

export interface StructuredReply {
  value: unknown;
  modelId: string;
  tokensIn: number;
  tokensOut: number;
  stopReason: string;
  /** The orchestrator's request id, when the service returns one. */
  requestId?: string;
}

/** The one inference call the loop makes: JSON-schema constrained generation. `InferenceClient` satisfies it. */
export interface LoopInference {
  structured(
    prompt: string,
    jsonSchema: Record<string, unknown>,
    options: { priority: InferencePriority; maxTokens: number; prefix: string; signal: AbortSignal },
  ): Promise<StructuredReply>;
}

/** Memories retrieved for a stimulus, best first, with their ids so a decision can cite them. */
export interface LoopMemory {
  retrieve(query: string, options: { limit: number; signal: AbortSignal }): Promise<RetrievedMemory[]>;
}
