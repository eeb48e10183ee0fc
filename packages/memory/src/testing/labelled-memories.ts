/**
 * A small labelled retrieval set: memories an agent of a software team could hold, and queries with
 * the memories that should come first. Queries are phrased as an agent would ask, often with other
 * word forms than the memory uses ("deployment" for "deploy"), so pure keyword matching is not
 * enough. `key`s name memories; `relevant` lists the keys a good ranker puts in its top 5.
 */
export interface LabelledMemory {
  key: string;
  text: string;
  tags: string[];
  importance: number;
  /** How long ago it was written, in hours. */
  ageHours: number;
}

export interface LabelledQuery {
  query: string;
  relevant: string[];
}

export const LABELLED_MEMORIES: LabelledMemory[] = [
  {
    key: 'vpn',
    text: 'Staging deploys fail unless the VPN tunnel is up; check it before deploying.',
    tags: ['deploy', 'staging'],
    importance: 0.8,
    ageHours: 30,
  },
  {
    key: 'vpn-night',
    text: 'The VPN drops every night around 2am for maintenance.',
    tags: ['vpn'],
    importance: 0.5,
    ageHours: 70,
  },
  {
    key: 'migrations',
    text: 'Run database migrations before starting the API server, or it crashes on boot.',
    tags: ['database', 'api'],
    importance: 0.9,
    ageHours: 100,
  },
  {
    key: 'flaky-test',
    text: 'The payment integration test is flaky when the sandbox is slow; rerun once before investigating.',
    tags: ['tests', 'payments'],
    importance: 0.6,
    ageHours: 12,
  },
  {
    key: 'node-version',
    text: 'The build needs Node 20; Node 22 breaks better-sqlite3.',
    tags: ['build'],
    importance: 0.7,
    ageHours: 200,
  },
  {
    key: 'review-style',
    text: 'UXClaw prefers screenshots attached to every review request for UI changes.',
    tags: ['review', 'ux'],
    importance: 0.5,
    ageHours: 48,
  },
  {
    key: 'colors',
    text: 'The design system forbids pure black text; use the grey-900 token instead.',
    tags: ['design'],
    importance: 0.4,
    ageHours: 300,
  },
  {
    key: 'disk-full',
    text: 'The build server ran out of disk space; old docker images filled /var/lib/docker.',
    tags: ['ops', 'disk'],
    importance: 0.7,
    ageHours: 20,
  },
  {
    key: 'disk-cleanup',
    text: 'Pruning dangling images with docker image prune freed 40 GB on the build server.',
    tags: ['ops', 'disk'],
    importance: 0.6,
    ageHours: 19,
  },
  {
    key: 'memory-leak',
    text: 'The worker process leaked memory when streams were not closed; fixed by disposing each stream.',
    tags: ['bug'],
    importance: 0.8,
    ageHours: 150,
  },
  {
    key: 'digest',
    text: 'ScribeClaw writes the daily digest at 18:00 from the reflections of the day.',
    tags: ['digest'],
    importance: 0.4,
    ageHours: 60,
  },
  {
    key: 'release-notes',
    text: 'Release notes must list breaking changes first, then features, then fixes.',
    tags: ['release', 'docs'],
    importance: 0.6,
    ageHours: 90,
  },
  {
    key: 'api-timeout',
    text: 'Calls to the billing API time out after 30 seconds; retry with backoff.',
    tags: ['api', 'billing'],
    importance: 0.6,
    ageHours: 40,
  },
  {
    key: 'lunch',
    text: 'Friday lunch is pizza in the big meeting room.',
    tags: ['office'],
    importance: 0.1,
    ageHours: 5,
  },
  {
    key: 'oncall',
    text: 'OpsClaw is on call this week; page it for production incidents.',
    tags: ['ops', 'oncall'],
    importance: 0.7,
    ageHours: 10,
  },
  {
    key: 'cert',
    text: 'The TLS certificate of the public site expires on the first of next month; renewal is manual.',
    tags: ['ops', 'tls'],
    importance: 0.9,
    ageHours: 80,
  },
  {
    key: 'lint',
    text: 'Biome formats markdown too; exclude markdown files to keep tables as written.',
    tags: ['lint'],
    importance: 0.3,
    ageHours: 400,
  },
  {
    key: 'cache-bug',
    text: 'Stale cache entries appeared after the schema change; clearing the row cache fixed the dashboard.',
    tags: ['bug', 'cache'],
    importance: 0.6,
    ageHours: 25,
  },
  {
    key: 'login-bug',
    text: 'Users could not log in on Safari because the session cookie lacked SameSite=None.',
    tags: ['bug', 'auth'],
    importance: 0.8,
    ageHours: 35,
  },
  {
    key: 'perf',
    text: 'Search latency doubled after adding the tags field; an index on tags brought it back.',
    tags: ['performance'],
    importance: 0.6,
    ageHours: 55,
  },
  {
    key: 'backup',
    text: 'Nightly database backups go to the NAS; restoring one takes about twenty minutes.',
    tags: ['ops', 'database'],
    importance: 0.7,
    ageHours: 120,
  },
  {
    key: 'translation',
    text: 'German translations are reviewed by the docs team before each release.',
    tags: ['docs', 'i18n'],
    importance: 0.4,
    ageHours: 250,
  },
  {
    key: 'gpu',
    text: 'The GPU box reboots when two large models load at once; load them one after another.',
    tags: ['gpu', 'ops'],
    importance: 0.8,
    ageHours: 15,
  },
  {
    key: 'password',
    text: 'Never paste credentials into task descriptions; use the secrets store.',
    tags: ['security'],
    importance: 0.9,
    ageHours: 500,
  },
];

export const LABELLED_QUERIES: LabelledQuery[] = [
  { query: 'why did the deployment to staging fail', relevant: ['vpn'] },
  { query: 'VPN connection problems at night', relevant: ['vpn-night', 'vpn'] },
  { query: 'API server crashes when it starts', relevant: ['migrations'] },
  { query: 'flaky payment tests', relevant: ['flaky-test'] },
  { query: 'which node version does the build require', relevant: ['node-version'] },
  { query: 'build server disk full, how to free space', relevant: ['disk-full', 'disk-cleanup'] },
  { query: 'leaking memory in the worker', relevant: ['memory-leak'] },
  { query: 'who is on call for production incidents', relevant: ['oncall'] },
  { query: 'certificate expiry and renewal', relevant: ['cert'] },
  { query: 'safari login cookie problem', relevant: ['login-bug'] },
  { query: 'restoring database backups', relevant: ['backup'] },
  { query: 'loading two models crashed the gpu machine', relevant: ['gpu'] },
  { query: 'how should release notes be ordered', relevant: ['release-notes'] },
  { query: 'billing api timeouts', relevant: ['api-timeout'] },
  { query: 'screenshots for ux reviews', relevant: ['review-style'] },
  { query: 'dashboard showed stale cached data', relevant: ['cache-bug'] },
];

const SUBJECTS = [
  'the api server',
  'the build server',
  'the staging database',
  'the release pipeline',
  'the payment service',
  'the login page',
  'the docs site',
  'the test suite',
  'the worker process',
  'the dashboard',
];
const EVENTS = [
  'was reviewed and looks fine',
  'got a new owner this week',
  'was mentioned in the weekly meeting',
  'has an updated README',
  'was renamed last sprint',
  'needs a ticket for cleanup',
  'was demoed to the team',
  'has new monitoring charts',
  'was discussed with UXClaw',
  'passed its monthly check',
];
const PREFIXES = ['Note:', 'Reminder:', 'FYI'];

/**
 * Distractors: 300 recent, often important memories that share the vocabulary of the queries
 * ("api server", "database", "build", "test") without answering them. Ranking by recency and
 * importance alone, or by a shared word alone, puts them first.
 */
export const LABELLED_DISTRACTORS: LabelledMemory[] = PREFIXES.flatMap((prefix, p) =>
  SUBJECTS.flatMap((subject, s) =>
    EVENTS.map((event, e) => {
      const index = p * 100 + s * 10 + e;
      return {
        key: `distractor-${index}`,
        text: `${prefix} ${subject} ${event}.`,
        tags: [],
        importance: 0.5 + ((index * 37) % 50) / 100,
        ageHours: 1 + ((index * 13) % 24),
      };
    }),
  ),
);
