/**
 * The tokenizer of the tiny model: a SentencePiece-style ("llama") vocabulary that llama.cpp can
 * tokenize any UTF-8 text with. Every byte has a byte-fallback token, so no text is unknown.
 *
 * SentencePiece merges adjacent pieces pairwise, so a word piece is reachable only when all its
 * prefixes are pieces too: each word contributes `▁w`, `▁wo`, `▁wor`, ... (`▁` marks a space).
 */

/** llama.cpp token types (llama_token_type). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

export const SPECIAL_TOKEN_IDS = { unknown: 0, beginOfSequence: 1, endOfSequence: 2 } as const;

const SPACE_MARK = '\u2581';

const WORDS = [
  'the',
  'and',
  'to',
  'of',
  'a',
  'in',
  'is',
  'it',
  'you',
  'that',
  'for',
  'on',
  'with',
  'as',
  'are',
  'this',
  'be',
  'at',
  'or',
  'not',
  'have',
  'from',
  'by',
  'we',
  'can',
  'will',
  'an',
  'what',
  'task',
  'agent',
  'memory',
  'build',
  'test',
  'review',
  'docs',
  'deploy',
  'error',
  'fix',
  'plan',
  'act',
  'defer',
  'ignore',
  'delegate',
  'reason',
  'priority',
  'user',
  'assistant',
  'system',
  'claw',
  'hello',
  'done',
  'next',
  'now',
  'today',
  'check',
  'run',
  'code',
  'note',
  'yes',
  'no',
] as const;

export interface TokenizerVocabulary {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

export function buildTokenizerVocabulary(): TokenizerVocabulary {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  for (let byte = 0; byte < 256; byte += 1) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  const seen = new Set<string>();
  const addPiece = (piece: string): void => {
    if (seen.has(piece)) return;
    seen.add(piece);
    tokens.push(piece);
    types.push(TOKEN_TYPE.normal);
  };
  addPiece(SPACE_MARK);
  for (let code = 0x21; code <= 0x7e; code += 1) addPiece(String.fromCharCode(code));
  for (const word of WORDS) {
    for (let length = 1; length <= word.length; length += 1) addPiece(SPACE_MARK + word.slice(0, length));
  }
  // Higher score merges first; shorter pieces rank above the longer ones built from them.
  const scores = new Float32Array(tokens.length);
  for (let id = 0; id < tokens.length; id += 1) {
    scores[id] = types[id] === TOKEN_TYPE.normal ? -id / 100 : 0;
  }
  return { tokens, scores, types: Int32Array.from(types) };
}

/** ChatML, the chat template node-llama-cpp and llama.cpp recognise without a model-specific wrapper. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
