/**
 * A stand-in orchestrator for process-level tests: an IPC server on CLAW_SOCKET accepting the token
 * CLAW_TEST_TOKEN, until it is killed. Prints `ready` once listening.
 */
import { IpcServer } from '@clawfleet/ipc';

const socketPath = process.env.CLAW_SOCKET as string;
const token = process.env.CLAW_TEST_TOKEN as string;
const server = new IpcServer({ socketPath, authenticate: (_agent, given) => given === token });
await server.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void server.close({ timeoutMs: 500 }).then(() => process.exit(0));
});
