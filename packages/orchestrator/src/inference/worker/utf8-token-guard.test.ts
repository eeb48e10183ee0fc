import { describe, expect, it } from 'vitest';
import { advanceUtf8Bytes, type Utf8State, Utf8TokenGuard } from './utf8-token-guard.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const encode = (text: string) => new TextEncoder().encode(text);

/** A SentencePiece vocabulary like the generated model's: specials, 256 byte tokens, then pieces. */
function spmVocabulary(pieces: string[]): { pieces: string[]; types: number[] } {
  const all = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let byte = 0; byte < 256; byte += 1) {
    all.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  for (const piece of pieces) {
    all.push(piece);
    types.push(1);
  }
  return { pieces: all, types };
}
const byteToken = (byte: number) => 3 + byte;

describe('UTF-8 validity of byte sequences', () => {
  it('accepts every valid character and its beginnings, and refuses what a decoder would replace', () => {
    for (const text of ['a', 'é', '€', '🦀', '\u{10FFFF}', '\uFFFD', 'mixed é€🦀']) {
      expect(advanceUtf8Bytes(null, encode(text))).toBeNull();
      const encoded = encode(text);
      // A character cut short is a valid beginning: more bytes are due.
      if (encoded.length > 1 && encoded[encoded.length - 1]! >= 0x80) {
        expect(advanceUtf8Bytes(null, encoded.slice(0, -1))).toMatchObject({ remaining: 1 });
      }
    }
    const invalid = [
      bytes(0x80), // a continuation byte without a lead byte
      bytes(0xc0, 0x80), // overlong
      bytes(0xc1, 0xbf),
      bytes(0xe0, 0x80, 0x80), // overlong three-byte form
      bytes(0xed, 0xa0, 0x80), // a UTF-16 surrogate
      bytes(0xf0, 0x80, 0x80, 0x80), // overlong four-byte form
      bytes(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
      bytes(0xf5, 0x80, 0x80, 0x80), // the measured case: one grammar character, four U+FFFD
      bytes(0xf0, 0x61, 0x62, 0x63), // a lead byte followed by ASCII
      bytes(0xff),
    ];
    for (const sequence of invalid) expect(advanceUtf8Bytes(null, sequence)).toBe('invalid');
    // A decoder agrees on every one of them.
    for (const sequence of invalid) expect(new TextDecoder().decode(sequence)).toContain('\uFFFD');
  });
});

describe('Utf8TokenGuard', () => {
  const vocabulary = spmVocabulary(['\u2581', 'a', 'b', '\u2581the', 'é']);
  const guard = new Utf8TokenGuard({ ...vocabulary, vocabulary: 'spm' });
  const pieceToken = (piece: string) => vocabulary.pieces.indexOf(piece);

  it('between characters bans only the byte tokens that can never start one', () => {
    const banned = new Set(guard.banned(null));
    for (let byte = 0x80; byte <= 0xc1; byte += 1) expect(banned.has(byteToken(byte))).toBe(true);
    for (let byte = 0xf5; byte <= 0xff; byte += 1) expect(banned.has(byteToken(byte))).toBe(true);
    expect(banned.size).toBe(0xc1 - 0x80 + 1 + (0xff - 0xf5 + 1));
    for (const allowed of [byteToken(0x41), byteToken(0xc3), byteToken(0xe2), byteToken(0xf0), pieceToken('a'), 0]) {
      expect(banned.has(allowed)).toBe(false);
    }
  });

  it('inside a character allows only the continuation bytes that keep it valid', () => {
    // After 0xF0 the next byte must be 0x90-0xBF (below is overlong): no ASCII, no piece, no special.
    const state = guard.next(null, byteToken(0xf0));
    expect(state).toEqual({ remaining: 3, low: 0x90, high: 0xbf });
    const allowed = vocabulary.pieces.map((_, token) => token).filter((token) => !guard.banned(state).includes(token));
    expect(allowed).toEqual(Array.from({ length: 0xbf - 0x90 + 1 }, (_, index) => byteToken(0x90 + index)));
  });

  it('follows the tokens written: a finished character returns to between characters', () => {
    let state: Utf8State = null;
    for (const byte of encode('🦀')) state = guard.next(state, byteToken(byte));
    expect(state).toBeNull();
    state = guard.next(state, pieceToken('\u2581the'));
    expect(state).toBeNull();
    state = guard.next(state, byteToken(0xe2));
    expect(state).toMatchObject({ remaining: 2 });
    // A token the guard could not ban (the grammar forced it) starts over rather than poisoning the rest.
    expect(guard.next(state, pieceToken('a'))).toBeNull();
    // A special token writes nothing and leaves the state as it was.
    expect(guard.next(state, 2)).toBe(state);
  });

  it('reads byte-level BPE pieces through the GPT-2 byte alphabet, where one token can hold half a character', () => {
    // "Ġ" is the space byte; "â" alone is the byte 0xE2 (a lead byte) and "Ĥ¬" the bytes 0x82 0xAC: "€" in two tokens.
    const bpe = new Utf8TokenGuard({
      pieces: ['Ġthe', 'â', '\u0124\u00ac', '<|end|>'],
      types: [1, 1, 1, 3],
      vocabulary: 'bpe',
    });
    expect(bpe.needed).toBe(true);
    const afterLead = bpe.next(null, 1);
    expect(afterLead).toMatchObject({ remaining: 2 });
    expect(bpe.banned(afterLead)).toEqual([0, 1, 3]);
    expect(bpe.next(afterLead, 2)).toBeNull();
    expect(bpe.banned(null)).toEqual([2]);
  });

  it('is not needed for a vocabulary of whole-text pieces', () => {
    const text = new Utf8TokenGuard({
      pieces: ['<s>', 'hello', '\u2581world', 'é'],
      types: [3, 1, 1, 1],
      vocabulary: 'spm',
    });
    expect(text.needed).toBe(false);
  });
});
