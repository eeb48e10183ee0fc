/**
 * Keeps a model from writing invalid UTF-8. A model whose vocabulary has byte tokens can emit
 * any byte sequence. llama.cpp's grammar reads a character from a lead byte and the bytes after it
 * without checking that they are continuation bytes, so an invalid sequence (0xF0 then three ASCII
 * bytes, a lone 0x80) counts as one character there, while a UTF-8 decoder turns each bad byte into
 * U+FFFD: a string the grammar bounded to `maxLength` characters came out longer and failed the
 * service's check. With the guard, a token is only sampled when the bytes written so far plus its
 * bytes are valid UTF-8 or a valid beginning of it, so the grammar and the decoder see the same
 * characters.
 *
 * Pure: it maps the vocabulary (the GGUF's pieces and token types) to each token's bytes once, and
 * answers, for the state of the character in progress, which tokens are banned. The engine turns the
 * answer into a node-llama-cpp `TokenBias`.
 */

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** The bytes still due for the character in progress, and the range the next one must fall in. */
export interface Utf8Pending {
  readonly remaining: number;
  readonly low: number;
  readonly high: number;
}

/** `null`: between characters. */
export type Utf8State = Utf8Pending | null;

const CONTINUATION = { low: 0x80, high: 0xbf } as const;

/**
 * The state after `byte`, or `'invalid'`. The first continuation byte of some lead bytes has a
 * narrower range (no overlong forms, no surrogates, nothing above U+10FFFF), as in RFC 3629.
 */
export function advanceUtf8(state: Utf8State, byte: number): Utf8State | 'invalid' {
  if (state !== null) {
    if (byte < state.low || byte > state.high) return 'invalid';
    return state.remaining === 1 ? null : { remaining: state.remaining - 1, ...CONTINUATION };
  }
  if (byte <= 0x7f) return null;
  if (byte >= 0xc2 && byte <= 0xdf) return { remaining: 1, ...CONTINUATION };
  if (byte === 0xe0) return { remaining: 2, low: 0xa0, high: 0xbf };
  if (byte === 0xed) return { remaining: 2, low: 0x80, high: 0x9f };
  if (byte >= 0xe1 && byte <= 0xef) return { remaining: 2, ...CONTINUATION };
  if (byte === 0xf0) return { remaining: 3, low: 0x90, high: 0xbf };
  if (byte >= 0xf1 && byte <= 0xf3) return { remaining: 3, ...CONTINUATION };
  if (byte === 0xf4) return { remaining: 3, low: 0x80, high: 0x8f };
  // 0x80-0xBF without a lead byte, 0xC0, 0xC1 (overlong) and 0xF5-0xFF never appear in UTF-8.
  return 'invalid';
}

/** The state after all of `bytes`, or `'invalid'`. */
export function advanceUtf8Bytes(state: Utf8State, bytes: Uint8Array): Utf8State | 'invalid' {
  let current: Utf8State = state;
  for (const byte of bytes) {
    const next = advanceUtf8(current, byte);
    if (next === 'invalid') return 'invalid';
    current = next;
  }
  return current;
}

function stateKey(state: Utf8State): string {
  return state === null ? 'ready' : `${state.remaining}:${state.low}:${state.high}`;
}

/** The GPT-2 byte-level BPE alphabet: each byte is written as one printable character. */
function gpt2ByteDecoder(): Map<string, number> {
  const printable: number[] = [];
  for (let byte = 0x21; byte <= 0x7e; byte += 1) printable.push(byte);
  for (let byte = 0xa1; byte <= 0xac; byte += 1) printable.push(byte);
  for (let byte = 0xae; byte <= 0xff; byte += 1) printable.push(byte);
  const decoder = new Map<string, number>();
  let extra = 0;
  for (let byte = 0; byte < 256; byte += 1) {
    if (printable.includes(byte)) decoder.set(String.fromCharCode(byte), byte);
    else {
      decoder.set(String.fromCharCode(256 + extra), byte);
      extra += 1;
    }
  }
  return decoder;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const encoder = new TextEncoder();

/**
 * The bytes a token writes, or `undefined` for a token that writes no text of its own (control,
 * unknown, unused: the engine's detokenizer drops them). Pieces that are whole text (SentencePiece's
 * `▁` standing for a space) are encoded as UTF-8, which is valid by construction.
 */
export function tokenBytes(
  piece: string,
  type: number | undefined,
  vocabulary: string,
  byteDecoder?: ReadonlyMap<string, number>,
): Uint8Array | undefined {
  if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.unknown || type === TOKEN_TYPE.unused) return undefined;
  const byte = BYTE_PIECE.exec(piece);
  if (byte !== null && (type === TOKEN_TYPE.byte || vocabulary !== 'bpe')) {
    return Uint8Array.of(Number.parseInt(byte[1]!, 16));
  }
  if (vocabulary === 'bpe' && type !== TOKEN_TYPE.userDefined && byteDecoder !== undefined) {
    const bytes: number[] = [];
    for (const character of piece) {
      const value = byteDecoder.get(character);
      // Not in the byte alphabet: the piece is plain text after all.
      if (value === undefined) return encoder.encode(piece);
      bytes.push(value);
    }
    return Uint8Array.from(bytes);
  }
  return encoder.encode(vocabulary === 'spm' ? piece.replaceAll('\u2581', ' ') : piece);
}

export interface Utf8TokenGuardVocabulary {
  /** `tokenizer.ggml.tokens`: the piece of each token id. */
  readonly pieces: readonly string[];
  /** `tokenizer.ggml.token_type`, when the file has it. */
  readonly types?: readonly number[] | undefined;
  /** node-llama-cpp's `LlamaVocabularyType` (`spm`, `bpe`, ...). */
  readonly vocabulary: string;
}

/** Which tokens may come next so that the output stays valid UTF-8; one per loaded model. */
export class Utf8TokenGuard {
  readonly #bytes: (Uint8Array | undefined)[];
  readonly #banned = new Map<string, readonly number[]>();
  /** Whether any token can write an invalid sequence at all (a vocabulary of whole-text pieces cannot). */
  readonly needed: boolean;

  constructor(vocabulary: Utf8TokenGuardVocabulary) {
    const decoder = vocabulary.vocabulary === 'bpe' ? gpt2ByteDecoder() : undefined;
    this.#bytes = vocabulary.pieces.map((piece, token) =>
      tokenBytes(piece, vocabulary.types?.[token], vocabulary.vocabulary, decoder),
    );
    this.needed = this.#bytes.some((bytes) => bytes !== undefined && advanceUtf8Bytes(null, bytes) !== null);
  }

  /** The state after `token` was written; an invalid result (a token the guard could not ban) starts over. */
  next(state: Utf8State, token: number): Utf8State {
    const bytes = this.#bytes[token];
    if (bytes === undefined) return state;
    const next = advanceUtf8Bytes(state, bytes);
    return next === 'invalid' ? null : next;
  }

  /**
   * Tokens that must not come next in `state`: those whose bytes would make the output invalid, and,
   * while a character is in progress, every token that writes no bytes (it would cut the character).
   * Computed once per state (there are a handful) and cached.
   */
  banned(state: Utf8State): readonly number[] {
    const key = stateKey(state);
    let banned = this.#banned.get(key);
    if (banned === undefined) {
      const list: number[] = [];
      for (const [token, bytes] of this.#bytes.entries()) {
        if (bytes === undefined) {
          if (state !== null) list.push(token);
        } else if (advanceUtf8Bytes(state, bytes) === 'invalid') list.push(token);
      }
      banned = list;
      this.#banned.set(key, banned);
    }
    return banned;
  }
}
