import type { InferenceClient } from '@clawfleet/inference-client';
import { ClawError, parseOrThrow } from '@clawfleet/protocol';
import { z } from 'zod';
import { normalizeTags } from '../agent-memory.ts';
import type { MemoryEntry } from '../memory-entry.ts';

/** What one group of related entries becomes: the text and tags of one long-term entry. */
export interface Summary {
  text: string;
  tags: string[];
}

/**
 * Merges related memories into one concise long-term memory: the port between compaction and the
 * model. `InferenceSummarizer` is the real one; tests may script their own.
 */
export interface Summarizer {
  summarize(entries: readonly MemoryEntry[], options: { signal?: AbortSignal }): Promise<Summary>;
}

export interface InferenceSummarizerOptions {
  inference: Pick<InferenceClient, 'structured'>;
  /** Enough for the longest summary the schema allows. @default 700 */
  maxTokens?: number;
}

const SUMMARY_MAX_LENGTH = 500;

/** The grammar the model writes in: bounded lengths, so a cut-off output is rare (env notes). */
export const SUMMARY_JSON_SCHEMA = {
  type: 'object',
  properties: {
    summary: { type: 'string', minLength: 1, maxLength: SUMMARY_MAX_LENGTH },
    tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 24 }, maxItems: 3 },
  },
  required: ['summary', 'tags'],
} as const;

const summaryOutputSchema = z.object({
  summary: z.string().max(SUMMARY_MAX_LENGTH),
  tags: z.array(z.string()).max(3),
});

/**
 * Summaries from the agent's model through `inference.structured` at the lowest priority
 * (`compaction`): the slot pool serves every human, triage, act and reflect request first.
 */
export class InferenceSummarizer implements Summarizer {
  readonly #inference: Pick<InferenceClient, 'structured'>;
  readonly #maxTokens: number;

  constructor(options: InferenceSummarizerOptions) {
    this.#inference = options.inference;
    this.#maxTokens = options.maxTokens ?? 700;
  }

  async summarize(entries: readonly MemoryEntry[], options: { signal?: AbortSignal } = {}): Promise<Summary> {
    const prompt = [
      'You keep the long-term memory of an agent. Merge these related notes into ONE concise memory that keeps',
      'every fact, name, number and lesson, and drops repetition. Answer as JSON: {"summary": "...", "tags": [...]}.',
      '',
      ...entries.map((entry, index) => `${index + 1}. ${entry.text.replace(/\s+/g, ' ')}`),
    ].join('\n');
    const result = await this.#inference.structured(prompt, SUMMARY_JSON_SCHEMA, {
      priority: 'compaction',
      maxTokens: this.#maxTokens,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const value = parseOrThrow(summaryOutputSchema, result.value, 'OUTPUT_INVALID', 'compaction summary');
    const text = value.summary.trim();
    if (text.length === 0) throw new ClawError('OUTPUT_INVALID', 'The compaction summary is empty');
    return { text, tags: normalizeTags(value.tags) };
  }
}
