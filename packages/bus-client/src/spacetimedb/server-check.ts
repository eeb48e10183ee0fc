import { ClawError } from '@clawfleet/protocol';

/** The server's HTTP base for a `ws(s)://` or `http(s)://` URI. */
export function httpBase(uri: string): URL {
  const url = new URL(uri);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

/**
 * Asks the server's `GET /v1/ping` (SpacetimeDB's health route) before a WebSocket is opened, so that a
 * refused or unreachable server is reported at once with the reason, as CONNECT_FAILED.
 */
export async function checkServer(uri: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let url: URL;
  try {
    url = new URL('v1/ping', httpBase(uri));
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `Expected \`uri\` to be a ws(s) or http(s) URL, got \`${uri}\``, {
      cause: error,
    });
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    await response.arrayBuffer();
  } catch (error) {
    if (signal?.aborted) throw new ClawError('CANCELLED', 'Connecting was cancelled', { cause: error });
    const code = (error as { cause?: { code?: string } }).cause?.code;
    const reason =
      code === 'ECONNREFUSED'
        ? 'refused the connection (is the server running?)'
        : timeout.aborted
          ? `did not answer within ${timeoutMs} ms`
          : `could not be reached (${code ?? (error as Error).message})`;
    throw new ClawError('CONNECT_FAILED', `SpacetimeDB at ${url.origin} ${reason}`, { cause: error });
  }
  if (!response.ok) {
    throw new ClawError(
      'CONNECT_FAILED',
      `SpacetimeDB at ${url.origin} answered /v1/ping with HTTP ${response.status}`,
    );
  }
}
