/**
 * Runtime values for a host that runs the reducers outside SpacetimeDB. The types are declared here
 * (not re-exported from `spacetimedb`) so packages compiled with NodeNext resolution, which cannot read
 * the `spacetimedb` root typings, still get exact types.
 */
import { Identity, SenderError, Timestamp } from 'spacetimedb';

export interface IdentityValue {
  readonly __identity__: bigint;
  isEqual(other: IdentityValue): boolean;
  toHexString(): string;
}

export interface TimestampValue {
  readonly __timestamp_micros_since_unix_epoch__: bigint;
  readonly microsSinceUnixEpoch: bigint;
}

/** `hex`: 64 hex digits (32 bytes). */
export function identityFromHex(hex: string): IdentityValue {
  return new Identity(hex);
}

export function isIdentityValue(value: unknown): value is IdentityValue {
  return value instanceof Identity;
}

export function timestampFromMicros(micros: bigint): TimestampValue {
  return new Timestamp(micros);
}

export function isTimestampValue(value: unknown): value is TimestampValue {
  return value instanceof Timestamp;
}

/** True for what reducers throw when the caller did something wrong (`SenderError`). */
export function isSenderError(error: unknown): error is Error {
  return error instanceof SenderError;
}
