/**
 * An IPC server in its own process, for tests that measure its memory (RSS) from outside:
 * `node --expose-gc --import tsx memory-probe-server.ts <socketPath> <tokensJson>`. It serves
 * `bus.query` (a 1 MiB answer, built synchronously as the bus builds a large query result) and
 * `echo.say`; prints `{"ready":true}`, then answers each `stats` line on stdin with one JSON line:
 * RSS after a full garbage collection, and `IpcServer.stats()`.
 */
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { IpcServer } from '../server/ipc-server.ts';
import { tokenAuthenticator } from '../shared/token-authenticator.ts';

const [socketPath, tokensJson] = process.argv.slice(2);
const tokens = JSON.parse(tokensJson ?? '{}') as Record<string, string>;
const server = new IpcServer({
  socketPath: socketPath!,
  authenticate: tokenAuthenticator(tokens),
  heartbeatIntervalMs: 60_000,
});
server.handle('echo.say', { params: z.object({ text: z.string() }), handler: (params) => params.text });
let answers = 0;
server.handle('bus.query', {
  params: z.unknown(),
  // A new string per answer, as a query result is.
  handler: () => `${answers++}`.padEnd(1024 * 1024, 'r'),
});
await server.listen();
const gc = (globalThis as { gc?: () => void }).gc;
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'stats') return;
  gc?.();
  gc?.();
  process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss, answers, ...server.stats() })}\n`);
});
process.stdin.on('end', () => void server.close({ timeoutMs: 100 }).then(() => process.exit(0)));
