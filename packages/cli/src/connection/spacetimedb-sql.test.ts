import { describe, expect, it } from 'vitest';
import { httpBase, publicValue } from './spacetimedb-sql.ts';

const OPTION_STRING = {
  Sum: {
    variants: [
      { name: { some: 'some' }, algebraic_type: { String: [] } },
      { name: { some: 'none' }, algebraic_type: { Product: { elements: [] } } },
    ],
  },
};
const IDENTITY = { Product: { elements: [{ name: { some: '__identity__' }, algebraic_type: { U256: [] } }] } };
const TIMESTAMP = {
  Product: { elements: [{ name: { some: '__timestamp_micros_since_unix_epoch__' }, algebraic_type: { I64: [] } }] },
};
const HEX = 'c2'.repeat(32);

/** SpacetimeDB's SQL answers in SATS JSON; `claw db sql --server` shows values as the bus clients do. */
describe('publicValue', () => {
  it('gives an option its value, or null', () => {
    expect(publicValue({ some: 'OpsClaw' }, OPTION_STRING)).toBe('OpsClaw');
    expect(publicValue({ none: [] }, OPTION_STRING)).toBeNull();
  });

  it('gives an identity as lowercase hex, in any form the answer may carry it', () => {
    expect(publicValue({ __identity__: `0x${HEX.toUpperCase()}` }, IDENTITY)).toBe(HEX);
    expect(publicValue([`0x${HEX}`], IDENTITY)).toBe(HEX);
    expect(publicValue(`0x${HEX}`, IDENTITY)).toBe(HEX);
    expect(publicValue('255', IDENTITY)).toBe(`${'0'.repeat(62)}ff`);
  });

  it('gives a timestamp as microseconds, and a 64-bit integer as a number where it is exact', () => {
    expect(publicValue({ __timestamp_micros_since_unix_epoch__: 1_700_000_000_000_000 }, TIMESTAMP)).toBe(
      1_700_000_000_000_000,
    );
    expect(publicValue(['42'], TIMESTAMP)).toBe(42);
    expect(publicValue('18446744073709551615', { U64: [] })).toBe('18446744073709551615');
    expect(publicValue('7', { U64: [] })).toBe(7);
  });

  it('leaves what it does not know as it came', () => {
    expect(publicValue('text', { String: [] })).toBe('text');
    expect(publicValue(true, undefined)).toBe(true);
  });
});

describe('httpBase', () => {
  it('takes http(s) and ws(s) URLs and refuses anything else with CONFIG_INVALID', () => {
    expect(httpBase('ws://localhost:3000').href).toBe('http://localhost:3000/');
    expect(httpBase('https://db.example/spacetime').href).toBe('https://db.example/spacetime/');
    expect(() => httpBase('localhost:3000')).toThrow(/Expected `--server` to be an http\(s\) or ws\(s\) URL/);
    expect(() => httpBase('not a url')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
