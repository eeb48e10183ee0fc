import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ClawError } from '@clawfleet/protocol';

/** The session cookie `POST /api/login` sets: HttpOnly, SameSite=Strict, path `/`. */
export const SESSION_COOKIE = 'claw_session';

/** Failed attempts one client address may make per window before every attempt is refused for the rest of it. */
export interface AuthLimit {
  /** @default 10 */
  maxFailures: number;
  /** @default 60_000 */
  windowMs: number;
}

const DEFAULT_LIMIT: AuthLimit = { maxFailures: 10, windowMs: 60_000 };
/** Addresses remembered at most; the oldest window is forgotten first (a flood of addresses cannot grow memory). */
const MAX_TRACKED_ADDRESSES = 10_000;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Checks the admin token on every request, from the `Authorization: Bearer` header or the session
 * cookie. Comparisons are constant-time over SHA-256 digests (equal lengths whatever was sent). The
 * cookie holds an HMAC of a fixed label under the token, not the token: it survives restarts, stops
 * working when the token is rotated, and a leaked cookie does not reveal the token the CLI uses.
 *
 * Brute force: after `maxFailures` wrong tokens from one address within `windowMs`, every attempt from
 * that address, right or wrong, is refused with TOO_MANY_REQUESTS until the window ends, so a guess
 * cannot be confirmed by a different answer.
 */
export class AdminAuth {
  readonly #tokenDigest: Buffer;
  readonly #sessionValue: string;
  readonly #sessionDigest: Buffer;
  readonly #limit: AuthLimit;
  readonly #failures = new Map<string, { count: number; windowStart: number }>();
  readonly #now: () => number;

  constructor(token: string, options: { limit?: Partial<AuthLimit>; now?: () => number } = {}) {
    if (typeof token !== 'string' || token.length < 16) {
      throw new ClawError('CONFIG_INVALID', 'Expected the admin token to be a string of at least 16 characters');
    }
    this.#tokenDigest = digest(token);
    this.#sessionValue = createHmac('sha256', token).update('clawfleet-http-session-v1').digest('hex');
    this.#sessionDigest = digest(this.#sessionValue);
    this.#limit = { ...DEFAULT_LIMIT, ...options.limit };
    this.#now = options.now ?? Date.now;
  }

  /** The cookie value a successful login sets. */
  get sessionValue(): string {
    return this.#sessionValue;
  }

  /**
   * Throws AUTH_FAILED when neither the bearer token nor the session cookie is right (and counts the
   * failure against `address`), TOO_MANY_REQUESTS while `address` is locked out.
   */
  check(address: string, credentials: { authorization?: string | undefined; cookie?: string | undefined }): void {
    this.#refuseWhileLocked(address);
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(credentials.authorization ?? '')?.[1];
    if (bearer !== undefined) {
      if (timingSafeEqual(digest(bearer), this.#tokenDigest)) return;
      this.#fail(address, 'The admin token in the Authorization header is wrong');
    }
    const session = sessionCookie(credentials.cookie);
    if (session !== undefined) {
      if (timingSafeEqual(digest(session), this.#sessionDigest)) return;
      this.#fail(address, 'The session cookie is not valid (the admin token changed?); log in again');
    }
    throw new ClawError(
      'AUTH_FAILED',
      'The admin token is required: send `Authorization: Bearer <token>` or log in at /login (the token is the `cli` entry of the tokens file)',
    );
  }

  /** Checks a token typed into the login page; same counting and lock-out as `check`. */
  login(address: string, token: string): void {
    this.#refuseWhileLocked(address);
    if (!timingSafeEqual(digest(token), this.#tokenDigest)) this.#fail(address, 'Wrong admin token');
  }

  #refuseWhileLocked(address: string): void {
    const entry = this.#failures.get(address);
    if (entry === undefined) return;
    const elapsed = this.#now() - entry.windowStart;
    if (elapsed >= this.#limit.windowMs) {
      this.#failures.delete(address);
      return;
    }
    if (entry.count >= this.#limit.maxFailures) {
      const retryAfterSeconds = Math.ceil((this.#limit.windowMs - elapsed) / 1000);
      throw new ClawError(
        'TOO_MANY_REQUESTS',
        `Too many wrong tokens from this address; try again in ${retryAfterSeconds} s`,
        { details: { retryAfterSeconds } },
      );
    }
  }

  #fail(address: string, message: string): never {
    const now = this.#now();
    const entry = this.#failures.get(address);
    if (entry === undefined || now - entry.windowStart >= this.#limit.windowMs) {
      this.#failures.delete(address);
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) {
        const oldest = this.#failures.keys().next().value;
        if (oldest !== undefined) this.#failures.delete(oldest);
      }
      this.#failures.set(address, { count: 1, windowStart: now });
    } else {
      entry.count += 1;
    }
    throw new ClawError('AUTH_FAILED', message);
  }
}

/** The session cookie's value from a `Cookie` header, if there is one. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator === -1) continue;
    if (part.slice(0, separator).trim() === SESSION_COOKIE) return part.slice(separator + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` value of a login (`value`) or a logout (undefined: expires it). */
export function sessionCookieHeader(value: string | undefined, secure: boolean): string {
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
  if (value === undefined) return [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attributes].join('; ');
  // A week; the cookie stops working anyway when the token is rotated.
  return [`${SESSION_COOKIE}=${value}`, 'Max-Age=604800', ...attributes].join('; ');
}
