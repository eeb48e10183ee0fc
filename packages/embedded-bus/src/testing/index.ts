// Test support for the embedded bus: a database fixture with agents, tasks and memory in known states.
// Kept out of the production entry; `claim-race-worker.ts` beside it is a process the claim race test spawns.
export {
  ADMIN,
  CALLERS,
  type CallerRole,
  createFixture,
  type Fixture,
  OTHER,
  OWNER,
  START_MS,
  snapshot,
  UNREGISTERED,
} from './test-fixture.ts';
