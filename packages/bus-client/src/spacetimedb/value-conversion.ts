import { ClawError, describeValue } from '@clawfleet/protocol';
import {
  type AlgebraicType,
  ConnectionId,
  Identity,
  type ProductTypeElement,
  TimeDuration,
  Timestamp,
} from 'spacetimedb';

/**
 * Conversions between the bus row convention (hex identities, microsecond timestamps, 64-bit integers
 * as numbers within +-2^53, `null` for an absent option) and the SpacetimeDB SDK's values (Identity,
 * Timestamp, bigint, `undefined`), driven by the module's algebraic types so that both clients show
 * the same rows and accept the same reducer arguments.
 */

const BIG_INTEGER_TAGS = new Set(['I64', 'U64', 'I128', 'U128', 'I256', 'U256']);

/** The SDK's own element type: a drift in the SDK's type representation is a compile error here. */
type Element = ProductTypeElement;

function elementName(element: Element): string {
  return element.name ?? '';
}

function productElements(type: AlgebraicType): Element[] | undefined {
  if (type.tag !== 'Product') return undefined;
  return (type.value as { elements: Element[] }).elements;
}

function specialProduct(type: AlgebraicType): string | undefined {
  const elements = productElements(type);
  if (elements?.length !== 1) return undefined;
  const name = elementName(elements[0] as Element);
  return name.startsWith('__') && name.endsWith('__') ? name : undefined;
}

function optionInner(type: AlgebraicType): AlgebraicType | undefined {
  if (type.tag !== 'Sum') return undefined;
  const variants = (type.value as { variants: Element[] }).variants;
  if (variants.length !== 2) return undefined;
  const some = variants.find((variant) => elementName(variant) === 'some');
  const none = variants.find((variant) => elementName(variant) === 'none');
  return some && none ? some.algebraicType : undefined;
}

function toBigInt(value: unknown, path: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return BigInt(value);
  throw new ClawError('INVALID_PARAMS', `Expected \`${path}\` to be an integer, got ${describeValue(value)}`);
}

function fromBigInt(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Converts a bus-convention value to what the SDK serializes for `type`. Throws INVALID_PARAMS. */
export function toSdkValue(type: AlgebraicType, value: unknown, path: string): unknown {
  const special = specialProduct(type);
  if (special === '__identity__') {
    if (value instanceof Identity) return value;
    if (typeof value === 'string' && /^(0x)?[0-9a-fA-F]{1,64}$/.test(value)) return Identity.fromString(value);
    throw new ClawError('INVALID_PARAMS', `Expected \`${path}\` to be an identity (hex), got ${describeValue(value)}`);
  }
  if (special === '__connection_id__') {
    if (value instanceof ConnectionId) return value;
    if (typeof value === 'string') return ConnectionId.fromString(value);
    throw new ClawError(
      'INVALID_PARAMS',
      `Expected \`${path}\` to be a connection id (hex), got ${describeValue(value)}`,
    );
  }
  if (special === '__timestamp_micros_since_unix_epoch__') {
    return value instanceof Timestamp ? value : new Timestamp(toBigInt(value, path));
  }
  if (special === '__time_duration_micros__') {
    return value instanceof TimeDuration ? value : new TimeDuration(toBigInt(value, path));
  }
  const inner = optionInner(type);
  if (inner) return value === null || value === undefined ? undefined : toSdkValue(inner, value, path);
  if (BIG_INTEGER_TAGS.has(type.tag)) return toBigInt(value, path);
  if (type.tag === 'Array') {
    if (!Array.isArray(value)) {
      throw new ClawError('INVALID_PARAMS', `Expected \`${path}\` to be an array, got ${describeValue(value)}`);
    }
    return value.map((item, index) => toSdkValue(type.value as AlgebraicType, item, `${path}[${index}]`));
  }
  const elements = productElements(type);
  if (elements) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ClawError('INVALID_PARAMS', `Expected \`${path}\` to be an object, got ${describeValue(value)}`);
    }
    return productToSdk(elements, value as Record<string, unknown>, path);
  }
  return value;
}

function productToSdk(elements: Element[], value: Record<string, unknown>, path: string): Record<string, unknown> {
  const known = new Set(elements.map(elementName));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new ClawError('INVALID_PARAMS', `Unknown field \`${path ? `${path}.` : ''}${key}\``);
  }
  const out: Record<string, unknown> = {};
  for (const element of elements) {
    const name = elementName(element);
    out[name] = toSdkValue(element.algebraicType, value[name], path ? `${path}.${name}` : name);
  }
  return out;
}

/** Converts reducer arguments (a product of named params) to SDK values. */
export function argsToSdk(paramsType: AlgebraicType | { elements: Element[] }, args: Record<string, unknown>): object {
  const elements = 'tag' in paramsType ? productElements(paramsType) : paramsType.elements;
  return productToSdk(elements ?? [], args, '');
}

/** Converts an SDK value of `type` to the bus row convention. */
export function fromSdkValue(type: AlgebraicType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Identity || value instanceof ConnectionId) return value.toHexString().toLowerCase();
  if (value instanceof Timestamp) return fromBigInt(value.microsSinceUnixEpoch);
  if (value instanceof TimeDuration) return fromBigInt(value.__time_duration_micros__);
  if (typeof value === 'bigint') return fromBigInt(value);
  const inner = optionInner(type);
  if (inner) return fromSdkValue(inner, value);
  if (type.tag === 'Array' && Array.isArray(value)) {
    return value.map((item) => fromSdkValue(type.value as AlgebraicType, item));
  }
  const elements = productElements(type);
  if (elements && typeof value === 'object') return rowFromSdk(elements, value as Record<string, unknown>);
  return value;
}

/** Converts an SDK row (a product value) to a bus row. */
export function rowFromSdk(elements: readonly Element[], row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const element of elements) {
    const name = elementName(element);
    out[name] = fromSdkValue(element.algebraicType, row[name]);
  }
  return out;
}

export type { Element as ProductElement };

/** Converts a bus row to an SDK product value of the row type (the test server encodes rows with it). */
export function rowToSdk(elements: readonly Element[], row: Record<string, unknown>): Record<string, unknown> {
  return productToSdk([...elements], row, '');
}
