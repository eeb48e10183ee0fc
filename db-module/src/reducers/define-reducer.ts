import type { Infer, RowObj } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';

/** How a reducer is started: by clients, by the database's scheduler, or by a lifecycle event. */
export type ReducerKind = 'client' | 'scheduled' | 'init' | 'client-connected' | 'client-disconnected';

/**
 * A reducer written once: its declared parameter types (used by SpacetimeDB and by the embedded host's
 * argument validation) and the function both hosts run.
 */
export interface ReducerDefinition<Params extends RowObj = RowObj> {
  readonly kind: ReducerKind;
  readonly params: Params;
  readonly run: (ctx: ReducerContext, args: Infer<Params>) => void;
}

export function defineReducer<Params extends RowObj>(
  params: Params,
  run: (ctx: ReducerContext, args: Infer<Params>) => void,
  kind: ReducerKind = 'client',
): ReducerDefinition<Params> {
  return { kind, params, run };
}
