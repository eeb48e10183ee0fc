import type { InferencePriority } from '@clawfleet/protocol';
import type { LoopInference, StructuredReply } from '../ports.ts';

/** One scripted answer: a value the "model" returns, an error it fails with, or a wait until aborted (a hang). */
export type ScriptedAnswer =
  | { value: unknown; tokensIn?: number; tokensOut?: number; stopReason?: string }
  | { error: Error }
  | { hang: true };

export interface RecordedCall {
  priority: InferencePriority;
  prompt: string;
  prefix: string;
  maxTokens: number;
  schema: Record<string, unknown>;
}

/** What a phase's schema looks like: triage has `decision`, act has `action`, reflect has `lessons`. */
export function phaseOfSchema(schema: Record<string, unknown>): 'triage' | 'act' | 'reflect' {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  if ('decision' in properties) return 'triage';
  if ('action' in properties) return 'act';
  return 'reflect';
}

const DEFAULT_REFLECTION = {
  summary: 'It went as planned',
  outcome: 'success',
  lessons: 'Nothing new',
  importance: '0.5',
  tags: ['test'],
};

/**
 * A fake inference backend that answers from a script, one queue per phase, and records every call.
 * Reflection answers default to a plain successful reflection when the script has none left; any
 * other phase running out of answers is a test bug and fails loudly.
 */
export class ScriptedInference implements LoopInference {
  readonly calls: RecordedCall[] = [];
  readonly #script: Record<'triage' | 'act' | 'reflect', ScriptedAnswer[]>;

  constructor(script: Partial<Record<'triage' | 'act' | 'reflect', ScriptedAnswer[]>> = {}) {
    this.#script = {
      triage: [...(script.triage ?? [])],
      act: [...(script.act ?? [])],
      reflect: [...(script.reflect ?? [])],
    };
  }

  push(phase: 'triage' | 'act' | 'reflect', ...answers: ScriptedAnswer[]): void {
    this.#script[phase].push(...answers);
  }

  callsOf(phase: 'triage' | 'act' | 'reflect'): RecordedCall[] {
    return this.calls.filter((call) => phaseOfSchema(call.schema) === phase);
  }

  async structured(
    prompt: string,
    jsonSchema: Record<string, unknown>,
    options: { priority: InferencePriority; maxTokens: number; prefix: string; signal: AbortSignal },
  ): Promise<StructuredReply> {
    this.calls.push({
      priority: options.priority,
      prompt,
      prefix: options.prefix,
      maxTokens: options.maxTokens,
      schema: jsonSchema,
    });
    const phase = phaseOfSchema(jsonSchema);
    const answer = this.#script[phase].shift() ?? (phase === 'reflect' ? { value: DEFAULT_REFLECTION } : undefined);
    if (answer === undefined) throw new Error(`The script has no ${phase} answer left (call ${this.calls.length})`);
    if ('hang' in answer) {
      await new Promise((_, reject) => {
        options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true });
      });
    }
    if ('error' in answer) throw answer.error;
    const value = 'value' in answer ? answer.value : undefined;
    return {
      value,
      modelId: 'scripted',
      tokensIn: 'value' in answer ? (answer.tokensIn ?? 100) : 0,
      tokensOut: 'value' in answer ? (answer.tokensOut ?? 20) : 0,
      stopReason: 'value' in answer ? (answer.stopReason ?? 'eos') : 'eos',
      requestId: `req-${this.calls.length}`,
    };
  }
}

/** Answers in the shape of each schema, for scripts. */
export const say = {
  triage(
    decision: 'act' | 'delegate' | 'defer' | 'ignore',
    extra: { priority?: string; reason?: string; delegate_to?: string; message?: string; defer_minutes?: string } = {},
  ): ScriptedAnswer {
    return {
      value: {
        decision,
        priority: extra.priority ?? '5',
        reason: extra.reason ?? `I ${decision}`,
        delegate_to: extra.delegate_to ?? 'none',
        message: extra.message ?? '',
        defer_minutes: extra.defer_minutes ?? '0',
      },
    };
  },
  tool(tool: string, args: Record<string, unknown> = {}): ScriptedAnswer {
    return { value: { action: 'tool', tool, args: JSON.stringify(args), outcome: 'none', summary: '' } };
  },
  finish(outcome: 'success' | 'partial' | 'failure', summary: string): ScriptedAnswer {
    return { value: { action: 'finish', tool: 'none', args: '', outcome, summary } };
  },
  reflection(summary: string, extra: { outcome?: string; importance?: string; tags?: string[] } = {}): ScriptedAnswer {
    return {
      value: {
        summary,
        outcome: extra.outcome ?? 'success',
        lessons: 'learned something',
        importance: extra.importance ?? '0.7',
        tags: extra.tags ?? ['test'],
      },
    };
  },
};
