import { createHash, timingSafeEqual } from 'node:crypto';

/** Decides whether a hello's agent name and token may connect. */
export type Authenticator = (agent: string, token: string) => boolean;

/**
 * Authenticates against a fixed table of per-agent tokens. Tokens are compared as SHA-256 digests
 * with `timingSafeEqual`, so neither the token's content nor its length leaks through timing; an
 * unknown agent is compared against a dummy digest for the same reason.
 */
export function tokenAuthenticator(
  tokens: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
): Authenticator {
  const digests = new Map<string, Buffer>();
  const entries = tokens instanceof Map ? [...tokens.entries()] : Object.entries(tokens);
  for (const [agent, token] of entries) {
    if (typeof token !== 'string' || token.length === 0) {
      throw new TypeError(`Expected a non-empty token for agent \`${agent}\``);
    }
    digests.set(agent, digest(token));
  }
  const dummy = digest('clawfleet-no-such-agent');
  return (agent, token) => {
    const expected = digests.get(agent);
    const matches = timingSafeEqual(expected ?? dummy, digest(token));
    return expected !== undefined && matches;
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
