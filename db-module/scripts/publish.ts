/**
 * Publishes the module bundle to a SpacetimeDB server over HTTP, the way the `spacetime` CLI does:
 * `GET /v1/health` first, refusing a server older than MINIMUM_SERVER_VERSION; without a token,
 * `POST /v1/identity` mints an identity and token (that identity becomes the owner, the admin `init`
 * records); then `PUT /v1/database/<name>?host_type=Js&policy=Compatible[&clear=true]` uploads the
 * bundle. A schema change the server cannot apply to the existing data is explained, not passed on as
 * a bare HTTP 400.
 */
import { ClawError, describeValue } from '@clawfleet/protocol';
import { z } from 'zod';

const DATABASE_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * The oldest SpacetimeDB server that can load the module: the module definition written by npm
 * `spacetimedb` 2.10 carries a `Submodules` section servers before 2.8.0 cannot decode, and the bundle
 * imports `spacetime:sys@2.1` (servers from 2.2.0). From the SpacetimeDB 2.8.3 sources.
 */
export const MINIMUM_SERVER_VERSION = '2.8.0';

/** Compares dotted versions numerically (`2.10.0` > `2.8.3`); pre-release suffixes are ignored. */
export function compareVersions(left: string, right: string): number {
  const parts = (version: string) =>
    version
      .split(/[-+]/)[0]!
      .split('.')
      .map((part) => Number.parseInt(part, 10) || 0);
  const [a, b] = [parts(left), parts(right)];
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

export const publishOptionsSchema = z.object({
  serverUrl: z
    .string({ error: (issue) => `Expected \`serverUrl\` to be an http(s) URL, got ${describeValue(issue.input)}` })
    .refine((value) => /^https?:\/\/[^/\s]+/.test(value), {
      error: (issue) => `Expected \`serverUrl\` to be an http(s) URL, got ${describeValue(issue.input)}`,
    }),
  database: z
    .string({ error: (issue) => `Expected \`database\` to be a database name, got ${describeValue(issue.input)}` })
    .refine((value) => DATABASE_NAME.test(value) && value.length <= 64, {
      error: (issue) =>
        `Expected \`database\` to be 1-64 lowercase letters, digits and single dashes, got ${describeValue(issue.input)}`,
    }),
  token: z
    .string({ error: (issue) => `Expected \`token\` to be a non-empty string, got ${describeValue(issue.input)}` })
    .min(1, { error: () => 'Expected `token` to be a non-empty string, got an empty string' })
    .optional(),
});

export type PublishOptions = z.input<typeof publishOptionsSchema> & {
  /** The module bundle (scripts/build-module.ts output). */
  bundle: string;
  /** Delete the database's data and publish afresh: a development reset, never for real data. @default false */
  clear?: boolean;
  /** Publish to a server that does not report its version (no `/v1/health`). @default false */
  allowUnknownVersion?: boolean;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
};

export interface PublishResult {
  /** The token used (minted when none was given); keep it to publish updates as the same owner. */
  token: string;
  /** The server's reply to the upload, parsed as JSON when it is JSON. */
  response: unknown;
  /** The version the server reported (undefined when it reports none and that was allowed). */
  serverVersion: string | undefined;
}

export function parsePublishOptions(input: unknown): z.infer<typeof publishOptionsSchema> {
  const parsed = publishOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new ClawError('CONFIG_INVALID', parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  return parsed.data;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function publishModule(options: PublishOptions): Promise<PublishResult> {
  const { serverUrl, database, token: givenToken } = parsePublishOptions(options);
  if (options.bundle.length === 0)
    throw new ClawError('CONFIG_INVALID', 'Expected `bundle` to be the module JavaScript, got an empty string');
  const fetchFunction = options.fetch ?? globalThis.fetch;
  const base = serverUrl.replace(/\/+$/, '');
  const request = async (method: string, path: string, init: { headers?: Record<string, string>; body?: string }) => {
    try {
      return await fetchFunction(`${base}${path}`, { method, ...init, signal: options.signal });
    } catch (error) {
      throw new ClawError('CONNECT_FAILED', `Could not reach SpacetimeDB at ${base}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };

  const serverVersion = await checkServerVersion(base, request, options.allowUnknownVersion === true);

  let token = givenToken;
  if (token === undefined) {
    const response = await request('POST', '/v1/identity', {});
    const body = await readBody(response);
    const parsed = z.object({ token: z.string().min(1) }).safeParse(body);
    if (!response.ok || !parsed.success) {
      throw new ClawError(
        'CONNECT_FAILED',
        `POST /v1/identity failed with HTTP ${response.status}: ${describeValue(body)}`,
      );
    }
    token = parsed.data.token;
  }

  // `policy=Compatible` (the server's default, sent so the request says what it means): only changes
  // that keep existing rows and clients valid are applied; anything else is refused with HTTP 400.
  const query = new URLSearchParams({ host_type: 'Js', policy: 'Compatible' });
  if (options.clear === true) query.set('clear', 'true');
  const response = await request('PUT', `/v1/database/${encodeURIComponent(database)}?${query}`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/javascript' },
    body: options.bundle,
  });
  const body = await readBody(response);
  if (response.status === 400 && /update rejected|migrat|incompatible/i.test(String(body))) {
    throw new ClawError(
      'CONFLICT',
      `SpacetimeDB refused to update ${database}: the new schema cannot be applied to the existing data automatically (the server says: ${String(body).slice(0, 500)}). ` +
        'For a development database whose data may go, publish again with --clear (deletes every row). ' +
        'For real data, make the change compatible (add tables or append columns with defaults; keep existing columns and types), ' +
        'or migrate: export the rows, publish with --clear, and write them back through reducers.',
      { details: { status: 400, reason: 'schema-incompatible' } },
    );
  }
  if (!response.ok) {
    throw new ClawError(
      'INTERNAL',
      `Publishing ${database} failed with HTTP ${response.status}: ${describeValue(body)}`,
      {
        retryable: response.status >= 500,
        details: { status: response.status },
      },
    );
  }
  return { token, response: body, serverVersion };
}

type Request = (
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string },
) => Promise<Response>;

/**
 * Reads the server's version from `GET /v1/health` (`{ version, ... }`) and refuses one older than
 * MINIMUM_SERVER_VERSION, before anything is uploaded.
 */
async function checkServerVersion(base: string, request: Request, allowUnknown: boolean): Promise<string | undefined> {
  const response = await request('GET', '/v1/health', {});
  const body = await readBody(response);
  const version = (body as { version?: unknown } | undefined)?.version;
  if (!response.ok || typeof version !== 'string') {
    if (allowUnknown) return undefined;
    throw new ClawError(
      'CONFLICT',
      `SpacetimeDB at ${base} does not report its version (GET /v1/health answered HTTP ${response.status}); Clawfleet's module needs SpacetimeDB ${MINIMUM_SERVER_VERSION} or newer. ` +
        'Upgrade the server, or pass --allow-unknown-version if you know it is recent enough.',
      { details: { status: response.status, minimumVersion: MINIMUM_SERVER_VERSION } },
    );
  }
  if (compareVersions(version, MINIMUM_SERVER_VERSION) < 0) {
    throw new ClawError(
      'CONFLICT',
      `SpacetimeDB at ${base} is version ${version}; Clawfleet's module needs ${MINIMUM_SERVER_VERSION} or newer (its module definition has sections older servers cannot read). Upgrade the server (e.g. the clockworklabs/spacetime image at ${MINIMUM_SERVER_VERSION} or later) and publish again.`,
      { details: { serverVersion: version, minimumVersion: MINIMUM_SERVER_VERSION } },
    );
  }
  return version;
}
