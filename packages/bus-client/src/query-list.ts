import { ClawError, describeValue } from '@clawfleet/protocol';

/** Checks the `queries` argument of `subscribe` and returns it as a fresh array. */
export function normalizeQueries(queries: unknown): string[] {
  const list = typeof queries === 'string' ? [queries] : queries;
  if (!Array.isArray(list) || list.length === 0 || list.length > 64) {
    throw new ClawError(
      'SUBSCRIPTION_INVALID',
      `Expected \`queries\` to be a query string or an array of 1-64 query strings, got ${describeValue(queries)}`,
    );
  }
  for (const [index, query] of list.entries()) {
    if (typeof query !== 'string') {
      throw new ClawError(
        'SUBSCRIPTION_INVALID',
        `Expected \`queries[${index}]\` to be a string, got ${describeValue(query)}`,
      );
    }
  }
  return [...(list as string[])];
}
