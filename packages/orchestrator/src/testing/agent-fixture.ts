/**
 * A stand-in agent for the AgentRuntime contract: what it does is chosen by CLAW_FIXTURE_BEHAVIOUR.
 * Plain JavaScript: the docker tier runs it in a container, without tsx.
 *   run          stay up; exit 0 on SIGTERM
 *   exit-3       exit with code 3 at once
 *   ignore-term  stay up and ignore SIGTERM (only SIGKILL ends it)
 *   print-env    print the environment's names as one JSON line, then behave as `run`
 */
const behaviour = process.env.CLAW_FIXTURE_BEHAVIOUR ?? 'run';
if (behaviour === 'exit-3') process.exit(3);
if (behaviour === 'print-env') process.stdout.write(`${JSON.stringify(Object.keys(process.env).sort())}\n`);
process.on('SIGTERM', () => {
  if (behaviour !== 'ignore-term') process.exit(0);
});
process.stdout.write('fixture ready\n');
setInterval(() => {}, 60_000);
