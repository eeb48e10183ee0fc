/**
 * Converts values between the three forms a column value takes in the embedded host, driven by the
 * column's SpacetimeDB algebraic type:
 * - runtime: what reducers see, exactly as in SpacetimeDB (bigint for 64-bit integers, Identity and
 *   Timestamp objects, `undefined` for an empty option);
 * - storage: what SQLite holds (INTEGER, REAL, TEXT; NULL for an empty option; JSON text for arrays
 *   and schedules);
 * - public: what the host API returns (identities as hex strings, timestamps as microseconds since the
 *   epoch, 64-bit integers as numbers when within +-2^53 and bigint beyond, `null` for an empty option).
 */
import {
  type AlgebraicType,
  type IdentityValue,
  identityFromHex,
  isIdentityValue,
  isTimestampValue,
  timestampFromMicros,
} from '@clawfleet/db-module';
import { describeValue } from '@clawfleet/protocol';

type Kind =
  | { kind: 'bool' }
  | { kind: 'integer'; name: string; min: bigint; max: bigint; wide: boolean }
  | { kind: 'float' }
  | { kind: 'string' }
  | { kind: 'identity' }
  | { kind: 'timestamp' }
  | { kind: 'duration' }
  | { kind: 'schedule-at' }
  | { kind: 'option'; inner: AlgebraicType }
  | { kind: 'array'; element: AlgebraicType }
  | { kind: 'product'; elements: { name: string; algebraicType: AlgebraicType }[] };

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  U8: [0n, 255n],
  U16: [0n, 65_535n],
  U32: [0n, 4_294_967_295n],
  U64: [0n, 18_446_744_073_709_551_615n],
  I8: [-128n, 127n],
  I16: [-32_768n, 32_767n],
  I32: [-2_147_483_648n, 2_147_483_647n],
  I64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
};

/** Thrown for a value that does not fit its column type; the host turns it into INVALID_PARAMS. */
export class ValueTypeError extends Error {
  override name = 'ValueTypeError';
}

interface Elements {
  elements: { name: string; algebraicType: AlgebraicType }[];
}
interface Variants {
  variants: { name: string; algebraicType: AlgebraicType }[];
}

const kindCache = new WeakMap<AlgebraicType, Kind>();

export function classify(type: AlgebraicType): Kind {
  const cached = kindCache.get(type);
  if (cached !== undefined) return cached;
  const kind = classifyUncached(type);
  kindCache.set(type, kind);
  return kind;
}

function classifyUncached(type: AlgebraicType): Kind {
  const range = INTEGER_RANGES[type.tag];
  if (range !== undefined) {
    return {
      kind: 'integer',
      name: type.tag.toLowerCase(),
      min: range[0],
      max: range[1],
      wide: type.tag.endsWith('64'),
    };
  }
  switch (type.tag) {
    case 'Bool':
      return { kind: 'bool' };
    case 'F32':
    case 'F64':
      return { kind: 'float' };
    case 'String':
      return { kind: 'string' };
    case 'Array':
      return { kind: 'array', element: type.value as AlgebraicType };
    case 'Product': {
      const { elements } = type.value as Elements;
      const only = elements.length === 1 ? elements[0]?.name : undefined;
      if (only === '__identity__') return { kind: 'identity' };
      if (only === '__timestamp_micros_since_unix_epoch__') return { kind: 'timestamp' };
      if (only === '__time_duration_micros__') return { kind: 'duration' };
      return { kind: 'product', elements };
    }
    case 'Sum': {
      const { variants } = type.value as Variants;
      const names = variants.map((variant) => variant.name).join(',');
      if (names === 'some,none') return { kind: 'option', inner: variants[0]!.algebraicType };
      if (names === 'Interval,Time') return { kind: 'schedule-at' };
      break;
    }
  }
  throw new Error(`The embedded host does not support columns of type ${JSON.stringify(type)}`);
}

/** The SQLite column type for a column. */
export function sqliteType(type: AlgebraicType): string {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
    case 'integer':
    case 'timestamp':
    case 'duration':
      return 'INTEGER';
    case 'float':
      return 'REAL';
    case 'option':
      return sqliteType(kind.inner);
    default:
      return 'TEXT';
  }
}

export function isNullable(type: AlgebraicType): boolean {
  return classify(type).kind === 'option';
}

// ---------------------------------------------------------------------------------------------------
// runtime <-> storage

interface ScheduleAtValue {
  tag: 'Interval' | 'Time';
  value: { __time_duration_micros__?: bigint; __timestamp_micros_since_unix_epoch__?: bigint };
}

// ---------------------------------------------------------------------------------------------------
// identities: the few distinct identities (agents, admins, the database) are converted on every call,
// so both directions are cached. Cached Identity objects are frozen because rows share them.

const MAX_CACHED_IDENTITIES = 4_096;
const identityByHex = new Map<string, IdentityValue>();
const hexByIdentity = new WeakMap<object, string>();

/** The Identity for 64 lowercase hex digits; the same frozen object for the same hex. */
export function cachedIdentity(hex: string): IdentityValue {
  let identity = identityByHex.get(hex);
  if (identity === undefined) {
    if (identityByHex.size >= MAX_CACHED_IDENTITIES) identityByHex.clear();
    identity = Object.freeze(identityFromHex(hex));
    identityByHex.set(hex, identity);
    hexByIdentity.set(identity, hex);
  }
  return identity;
}

/** `identity.toHexString()`, remembered per object. */
export function identityHex(value: unknown): string {
  const identity = value as IdentityValue;
  let hex = hexByIdentity.get(identity);
  if (hex === undefined) {
    hex = identity.toHexString();
    hexByIdentity.set(identity, hex);
  }
  return hex;
}

export function toStorage(type: AlgebraicType, value: unknown): unknown {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
      return value === true ? 1 : 0;
    case 'integer':
      return BigInt(value as bigint | number);
    case 'float':
    case 'string':
      return value;
    case 'identity':
      return identityHex(value);
    case 'timestamp':
      return (value as { __timestamp_micros_since_unix_epoch__: bigint }).__timestamp_micros_since_unix_epoch__;
    case 'duration':
      return (value as { __time_duration_micros__: bigint }).__time_duration_micros__;
    case 'option':
      return value === undefined || value === null ? null : toStorage(kind.inner, value);
    case 'schedule-at': {
      const schedule = value as ScheduleAtValue;
      const micros = schedule.value.__timestamp_micros_since_unix_epoch__ ?? schedule.value.__time_duration_micros__;
      return JSON.stringify({ tag: schedule.tag, micros: String(micros) });
    }
    case 'array':
      return JSON.stringify((value as unknown[]).map((element) => jsonSafe(toStorage(kind.element, element))));
    case 'product':
      return JSON.stringify(
        Object.fromEntries(
          kind.elements.map((element) => [
            element.name,
            jsonSafe(toStorage(element.algebraicType, (value as Record<string, unknown>)[element.name])),
          ]),
        ),
      );
  }
}

function jsonSafe(value: unknown): unknown {
  return typeof value === 'bigint' ? String(value) : value;
}

export function fromStorage(type: AlgebraicType, stored: unknown): unknown {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
      return stored === 1n || stored === 1 || stored === '1';
    case 'integer':
      return kind.wide ? BigInt(stored as bigint) : Number(stored);
    case 'float':
      return Number(stored);
    case 'string':
      return String(stored);
    case 'identity':
      return cachedIdentity(String(stored));
    case 'timestamp':
      return timestampFromMicros(BigInt(stored as bigint));
    case 'duration':
      return { __time_duration_micros__: BigInt(stored as bigint) };
    case 'option':
      return stored === null ? undefined : fromStorage(kind.inner, stored);
    case 'schedule-at': {
      const parsed = JSON.parse(String(stored)) as { tag: 'Interval' | 'Time'; micros: string };
      return parsed.tag === 'Time'
        ? { tag: 'Time', value: timestampFromMicros(BigInt(parsed.micros)) }
        : { tag: 'Interval', value: { __time_duration_micros__: BigInt(parsed.micros) } };
    }
    case 'array':
      return (JSON.parse(String(stored)) as unknown[]).map((element) => fromStorage(kind.element, element));
    case 'product': {
      const parsed = JSON.parse(String(stored)) as Record<string, unknown>;
      return Object.fromEntries(
        kind.elements.map((element) => [element.name, fromStorage(element.algebraicType, parsed[element.name])]),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// runtime -> public

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function publicInteger(value: bigint): number | bigint {
  return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

export function toPublic(type: AlgebraicType, value: unknown): unknown {
  const kind = classify(type);
  switch (kind.kind) {
    case 'integer':
      return typeof value === 'bigint' ? publicInteger(value) : value;
    case 'identity':
      return identityHex(value);
    case 'timestamp':
      return publicInteger(
        (value as { __timestamp_micros_since_unix_epoch__: bigint }).__timestamp_micros_since_unix_epoch__,
      );
    case 'duration':
      return publicInteger((value as { __time_duration_micros__: bigint }).__time_duration_micros__);
    case 'option':
      return value === undefined || value === null ? null : toPublic(kind.inner, value);
    case 'schedule-at': {
      const schedule = value as ScheduleAtValue;
      const micros =
        schedule.value.__timestamp_micros_since_unix_epoch__ ?? schedule.value.__time_duration_micros__ ?? 0n;
      return { tag: schedule.tag, micros: publicInteger(micros) };
    }
    case 'array':
      return (value as unknown[]).map((element) => toPublic(kind.element, element));
    case 'product':
      return Object.fromEntries(
        kind.elements.map((element) => [
          element.name,
          toPublic(element.algebraicType, (value as Record<string, unknown>)[element.name]),
        ]),
      );
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------------------------------
// public -> runtime, validating: the boundary where reducer arguments enter

function fail(path: string, expected: string, value: unknown): never {
  throw new ValueTypeError(`Expected \`${path}\` to be ${expected}, got ${describeValue(value)}`);
}

function integerFromPublic(path: string, kind: Extract<Kind, { kind: 'integer' }>, value: unknown): bigint {
  let integer: bigint | undefined;
  if (typeof value === 'bigint') integer = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) integer = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) integer = BigInt(value);
  const expected = `an integer ${kind.min}-${kind.max} (${kind.name})`;
  if (integer === undefined || integer < kind.min || integer > kind.max) fail(path, expected, value);
  return integer;
}

export function fromPublic(type: AlgebraicType, value: unknown, path: string): unknown {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
      if (typeof value !== 'boolean') fail(path, 'a boolean', value);
      return value;
    case 'integer': {
      const integer = integerFromPublic(path, kind, value);
      return kind.wide ? integer : Number(integer);
    }
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'a finite number', value);
      return value;
    case 'string':
      if (typeof value !== 'string') fail(path, 'a string', value);
      return value;
    case 'identity':
      if (isIdentityValue(value)) return value;
      if (typeof value !== 'string' || !/^(0x)?[0-9a-fA-F]{64}$/.test(value)) {
        fail(path, 'an identity (64 hex digits)', value);
      }
      return cachedIdentity(value.replace(/^0x/, '').toLowerCase());
    case 'timestamp': {
      if (isTimestampValue(value)) return value;
      const micros = integerFromPublic(
        path,
        { kind: 'integer', name: 'microseconds since the epoch', min: -(2n ** 63n), max: 2n ** 63n - 1n, wide: true },
        value,
      );
      return timestampFromMicros(micros);
    }
    case 'duration': {
      const micros = integerFromPublic(
        path,
        { kind: 'integer', name: 'microseconds', min: -(2n ** 63n), max: 2n ** 63n - 1n, wide: true },
        value,
      );
      return { __time_duration_micros__: micros };
    }
    case 'option':
      return value === undefined || value === null ? undefined : fromPublic(kind.inner, value, path);
    case 'array':
      if (!Array.isArray(value)) fail(path, 'an array', value);
      return value.map((element, index) => fromPublic(kind.element, element, `${path}[${index}]`));
    case 'schedule-at': {
      const schedule = value as { tag?: unknown; micros?: unknown } | null;
      if (
        typeof schedule !== 'object' ||
        schedule === null ||
        (schedule.tag !== 'Time' && schedule.tag !== 'Interval')
      ) {
        fail(path, 'a schedule `{ tag: "Time" | "Interval", micros }`', value);
      }
      const micros = integerFromPublic(
        `${path}.micros`,
        { kind: 'integer', name: 'microseconds', min: 0n, max: 2n ** 63n - 1n, wide: true },
        schedule.micros,
      );
      return schedule.tag === 'Time'
        ? { tag: 'Time', value: timestampFromMicros(micros) }
        : { tag: 'Interval', value: { __time_duration_micros__: micros } };
    }
    case 'product': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value);
      const record = value as Record<string, unknown>;
      const names = kind.elements.map((element) => element.name);
      for (const key of Object.keys(record)) {
        if (!names.includes(key)) fail(`${path}.${key}`, `absent (known fields: ${names.join(', ')})`, record[key]);
      }
      return Object.fromEntries(
        kind.elements.map((element) => [
          element.name,
          fromPublic(element.algebraicType, record[element.name], `${path}.${element.name}`),
        ]),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Converters compiled once per column: the same results as toStorage / fromStorage / toPublic, without
// classifying the type on every value. Simple kinds get a direct function; the rest delegate.

export type Converter = (value: unknown) => unknown;

export function storageEncoder(type: AlgebraicType): Converter {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
      return (value) => (value === true ? 1 : 0);
    case 'integer':
      return (value) => BigInt(value as bigint | number);
    case 'float':
    case 'string':
      return (value) => value;
    case 'identity':
      return identityHex;
    case 'timestamp':
      return (value) =>
        (value as { __timestamp_micros_since_unix_epoch__: bigint }).__timestamp_micros_since_unix_epoch__;
    case 'option': {
      const inner = storageEncoder(kind.inner);
      return (value) => (value === undefined || value === null ? null : inner(value));
    }
    default:
      return (value) => toStorage(type, value);
  }
}

export function storageDecoder(type: AlgebraicType): Converter {
  const kind = classify(type);
  switch (kind.kind) {
    case 'bool':
      return (stored) => stored === 1n || stored === 1 || stored === '1';
    case 'integer':
      return kind.wide ? (stored) => BigInt(stored as bigint) : (stored) => Number(stored);
    case 'float':
      return (stored) => Number(stored);
    case 'string':
      return (stored) => String(stored);
    case 'identity':
      return (stored) => cachedIdentity(String(stored));
    case 'timestamp':
      return (stored) => timestampFromMicros(BigInt(stored as bigint));
    case 'option': {
      const inner = storageDecoder(kind.inner);
      return (stored) => (stored === null ? undefined : inner(stored));
    }
    default:
      return (stored) => fromStorage(type, stored);
  }
}

export function publicEncoder(type: AlgebraicType): Converter {
  const kind = classify(type);
  switch (kind.kind) {
    case 'integer':
      return (value) => (typeof value === 'bigint' ? publicInteger(value) : value);
    case 'identity':
      return identityHex;
    case 'timestamp':
      return (value) =>
        publicInteger(
          (value as { __timestamp_micros_since_unix_epoch__: bigint }).__timestamp_micros_since_unix_epoch__,
        );
    case 'bool':
    case 'float':
    case 'string':
      return (value) => value;
    case 'option': {
      const inner = publicEncoder(kind.inner);
      return (value) => (value === undefined || value === null ? null : inner(value));
    }
    default:
      return (value) => toPublic(type, value);
  }
}
