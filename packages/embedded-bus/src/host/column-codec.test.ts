import type { AlgebraicType } from '@clawfleet/db-module';
import { describe, expect, it } from 'vitest';
import { fromPublic, fromStorage, toPublic, toStorage, ValueTypeError } from './column-codec.ts';

const U64: AlgebraicType = { tag: 'U64' };
const U8: AlgebraicType = { tag: 'U8' };
const IDENTITY: AlgebraicType = {
  tag: 'Product',
  value: { elements: [{ name: '__identity__', algebraicType: { tag: 'U256' } }] },
};
const TIMESTAMP: AlgebraicType = {
  tag: 'Product',
  value: { elements: [{ name: '__timestamp_micros_since_unix_epoch__', algebraicType: { tag: 'I64' } }] },
};
const optionOf = (inner: AlgebraicType): AlgebraicType => ({
  tag: 'Sum',
  value: {
    variants: [
      { name: 'some', algebraicType: inner },
      { name: 'none', algebraicType: { tag: 'Product', value: { elements: [] } } },
    ],
  },
});
const ARRAY_OF_U64: AlgebraicType = { tag: 'Array', value: U64 };

const roundTrip = (type: AlgebraicType, value: unknown) => {
  const runtime = fromPublic(type, value, 'value');
  return toPublic(type, fromStorage(type, toStorage(type, runtime)));
};

describe('column values', () => {
  it('keeps u64 values exact through SQLite: numbers within 2^53, bigint beyond', () => {
    expect(roundTrip(U64, 42)).toBe(42);
    expect(roundTrip(U64, 2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    expect(roundTrip(ARRAY_OF_U64, [1, 2n ** 60n])).toEqual([1, 2n ** 60n]);
  });

  it('stores identities as hex and timestamps as microseconds, and empty options as null', () => {
    const hex = 'ab'.repeat(32);
    expect(roundTrip(IDENTITY, hex)).toBe(hex);
    expect(roundTrip(TIMESTAMP, 1_750_000_000_000_123)).toBe(1_750_000_000_000_123);
    expect(roundTrip(optionOf(U64), null)).toBeNull();
    expect(toStorage(optionOf(U64), undefined)).toBeNull();
    expect(roundTrip(optionOf(U64), 7)).toBe(7);
  });

  it.each([
    [U8, 256, 'Expected `value` to be an integer 0-255 (u8), got `256` (number)'],
    [U8, 1.5, 'Expected `value` to be an integer 0-255 (u8), got `1.5` (number)'],
    [U64, -1, 'Expected `value` to be an integer 0-18446744073709551615 (u64), got `-1` (number)'],
    [U64, 2 ** 60, 'Expected `value` to be an integer 0-18446744073709551615 (u64)'],
    [IDENTITY, 'abc', 'Expected `value` to be an identity (64 hex digits), got `abc` (string)'],
    [ARRAY_OF_U64, [1, 'x'], 'Expected `value[1]` to be an integer'],
  ] as [AlgebraicType, unknown, string][])('rejects %j given %j with an exact message', (type, value, message) => {
    expect(() => fromPublic(type, value, 'value')).toThrow(ValueTypeError);
    expect(() => fromPublic(type, value, 'value')).toThrow(message);
  });
});
