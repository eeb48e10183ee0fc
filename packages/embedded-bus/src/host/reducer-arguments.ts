/**
 * Client reducer calls at the host's boundary: the caller's name, the reducer's name and its arguments
 * are checked, and the arguments converted from the public form (hex identities, microseconds, numbers
 * or bigints) to the runtime values reducers see, by the reducer's declared parameter types.
 */
import { type AlgebraicType, type ReducerDefinition, reducerCatalog } from '@clawfleet/db-module';
import { ClawError, describeValue } from '@clawfleet/protocol';
import { fromPublic, ValueTypeError } from './column-codec.ts';
import { identityForName } from './identity.ts';

/** Reducers the host runs itself; clients may not call them. */
export const LIFECYCLE_KINDS: ReadonlySet<string> = new Set(['init', 'client-connected', 'client-disconnected']);

/** A call that passed validation, ready to run. */
export interface PreparedCall {
  index: number;
  callerName: string;
  senderHex: string;
  reducer: string;
  definition: ReducerDefinition;
  args: Record<string, unknown>;
}

interface Parameter {
  readonly name: string;
  readonly type: AlgebraicType;
}

/** Each reducer's parameters with their types, read from its definition once. */
const parameterCache = new WeakMap<ReducerDefinition, readonly Parameter[]>();

function parametersOf(definition: ReducerDefinition): readonly Parameter[] {
  let parameters = parameterCache.get(definition);
  if (parameters === undefined) {
    parameters = Object.entries(definition.params as Record<string, unknown>).map(([name, builder]) => ({
      name,
      type: parameterType(builder),
    }));
    parameterCache.set(definition, parameters);
  }
  return parameters;
}

function parameterType(builder: unknown): AlgebraicType {
  const candidate = builder as { algebraicType?: AlgebraicType; typeBuilder?: { algebraicType: AlgebraicType } };
  const type = candidate.typeBuilder?.algebraicType ?? candidate.algebraicType;
  if (type === undefined) throw new Error('A reducer parameter has no algebraic type');
  return type;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

/** The identity (hex) of a caller name; INVALID_PARAMS for anything but a non-empty string. */
export function callerIdentityHex(callerName: unknown): string {
  if (typeof callerName !== 'string' || callerName.length === 0) {
    throw new ClawError(
      'INVALID_PARAMS',
      `Expected \`callerName\` to be a non-empty string, got ${describeValue(callerName)}`,
    );
  }
  return identityForName(callerName);
}

/**
 * Validates a client call (caller, reducer, arguments). Throws ClawError UNKNOWN_REDUCER, FORBIDDEN (a
 * lifecycle reducer) or INVALID_PARAMS.
 */
export function prepareCall(index: number, callerName: string, reducer: string, args: unknown): PreparedCall {
  const senderHex = callerIdentityHex(callerName);
  if (typeof reducer !== 'string' || !Object.hasOwn(reducerCatalog, reducer)) {
    throw new ClawError('UNKNOWN_REDUCER', `No reducer named ${describeValue(reducer)}`, {
      details: { reducer: typeof reducer === 'string' ? reducer : null },
    });
  }
  const definition = reducerCatalog[reducer as keyof typeof reducerCatalog] as ReducerDefinition;
  if (LIFECYCLE_KINDS.has(definition.kind)) {
    throw new ClawError('FORBIDDEN', `\`${reducer}\` is a lifecycle reducer; the host runs it, clients cannot call it`);
  }
  return { index, callerName, senderHex, reducer, definition, args: convertArguments(reducer, definition, args) };
}

function convertArguments(reducer: string, definition: ReducerDefinition, args: unknown): Record<string, unknown> {
  if (!isPlainObject(args)) {
    throw new ClawError(
      'INVALID_PARAMS',
      `Expected the arguments of \`${reducer}\` to be an object, got ${describeValue(args)}`,
    );
  }
  const parameters = parametersOf(definition);
  for (const key of Object.keys(args)) {
    if (!parameters.some((parameter) => parameter.name === key)) {
      const names = parameters.map((parameter) => parameter.name);
      throw new ClawError(
        'INVALID_PARAMS',
        `Unknown argument \`${key}\` for \`${reducer}\` (its parameters: ${names.length === 0 ? 'none' : names.join(', ')})`,
      );
    }
  }
  const converted: Record<string, unknown> = {};
  try {
    for (const { name, type } of parameters) converted[name] = fromPublic(type, args[name], name);
  } catch (error) {
    if (error instanceof ValueTypeError) {
      throw new ClawError('INVALID_PARAMS', `${error.message} (reducer \`${reducer}\`)`, { details: { reducer } });
    }
    throw error;
  }
  return converted;
}
