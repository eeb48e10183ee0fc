/**
 * Publishes the module bundle to a SpacetimeDB server over HTTP, the way the `spacetime` CLI does:
 * without a token, `POST /v1/identity` mints an identity and token (that identity becomes the owner,
 * the admin `init` records); then `PUT /v1/database/<name>?host_type=Js` uploads the bundle.
 */
import { ClawError, describeValue } from '@clawfleet/protocol';
import { z } from 'zod';

const DATABASE_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

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
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
};

export interface PublishResult {
  /** The token used (minted when none was given); keep it to publish updates as the same owner. */
  token: string;
  /** The server's reply to the upload, parsed as JSON when it is JSON. */
  response: unknown;
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

  const response = await request('PUT', `/v1/database/${encodeURIComponent(database)}?host_type=Js`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/javascript' },
    body: options.bundle,
  });
  const body = await readBody(response);
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
  return { token, response: body };
}
