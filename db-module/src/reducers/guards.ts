/**
 * Checks shared by the reducers. Every check throws `SenderError` (the caller's mistake) before the
 * reducer writes anything, so a rejected call leaves no partial write in either host.
 */
import { SenderError, Timestamp } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import type { AgentRow, TaskRow } from '../tables.ts';

export const LIMITS = {
  nameLength: 64,
  titleLength: 200,
  shortTextLength: 200,
  textLength: 8_000,
  maxPriority: 9,
  maxDependencies: 32,
  /** Tags on one memory entry, and characters in one tag. */
  maxTags: 16,
  tagLength: 40,
  /** Provenance links given with one memory entry. */
  maxMemoryLinks: 64,
  /** Sources one compaction run may claim, and long-term entries it may write. */
  maxCompactionSources: 64,
  maxCompactionResults: 16,
  maxLeaseSeconds: 3_600,
  maxAttentionSeconds: 7 * 24 * 3_600,
  maxTokens: 10_000_000,
} as const;

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;

export function reject(message: string): never {
  throw new SenderError(message);
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : typeof value === 'bigint' ? `${value}` : JSON.stringify(value);
  const shown = text !== undefined && text.length > 40 ? `${text.slice(0, 37)}...` : text;
  return `\`${shown}\` (${typeof value})`;
}

export function requireText(field: string, value: string, maxLength: number): string {
  if (value.trim().length === 0) reject(`Expected \`${field}\` to be non-empty text, got an empty string`);
  if (value.length > maxLength) {
    reject(`Expected \`${field}\` to be at most ${maxLength} characters, got ${value.length}`);
  }
  return value;
}

/** Text that may be empty but not longer than `maxLength`. */
export function requireMaxLength(field: string, value: string, maxLength: number): string {
  if (value.length > maxLength) {
    reject(`Expected \`${field}\` to be at most ${maxLength} characters, got ${value.length}`);
  }
  return value;
}

export function requireName(field: string, value: string): string {
  if (value.length === 0 || value.length > LIMITS.nameLength || !NAME_PATTERN.test(value)) {
    reject(
      `Expected \`${field}\` to be a name of 1-${LIMITS.nameLength} letters, digits, _ or - starting with a letter, got ${describe(value)}`,
    );
  }
  return value;
}

export function requireRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    reject(`Expected \`${field}\` to be an integer ${min}-${max}, got ${describe(value)}`);
  }
  return value;
}

/** A finite number in [min, max] (fractions allowed), e.g. importance 0-1. */
export function requireNumberInRange(field: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    reject(`Expected \`${field}\` to be a number ${min}-${max}, got ${describe(value)}`);
  }
  return value;
}

export function requireOneOf<const T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    reject(`Expected \`${field}\` to be one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export function isAdmin(ctx: ReducerContext): boolean {
  return ctx.db.admin.identity.find(ctx.sender) !== null;
}

export function requireAdmin(ctx: ReducerContext, action: string): void {
  if (!isAdmin(ctx)) reject(`Only an admin may ${action}`);
}

/** The registered agent making this call; anyone else is rejected. */
export function requireAgent(ctx: ReducerContext, action: string): AgentRow {
  const caller = ctx.db.agent.identity.find(ctx.sender);
  if (caller === null) reject(`Only a registered agent may ${action}; the caller is not one`);
  return caller;
}

/** Scheduled reducers run as the database itself; a client calling one is rejected. */
export function requireDatabase(ctx: ReducerContext, reducer: string): void {
  if (!ctx.sender.isEqual(ctx.databaseIdentity)) reject(`\`${reducer}\` is run by the database's scheduler only`);
}

export function requireTask(ctx: ReducerContext, taskId: bigint): TaskRow {
  const task = ctx.db.task.id.find(taskId);
  if (task === null) reject(`Task ${taskId} does not exist`);
  return task;
}

export function requireRegisteredAgentName(ctx: ReducerContext, field: string, name: string): AgentRow {
  const found = ctx.db.agent.name.find(name);
  if (found === null) reject(`Expected \`${field}\` to name a registered agent, got ${describe(name)}`);
  return found;
}

export function addSeconds(timestamp: Timestamp, seconds: number): Timestamp {
  return new Timestamp(timestamp.microsSinceUnixEpoch + BigInt(seconds) * 1_000_000n);
}

/** Optional text: none stays none, present text is validated. */
export function optionalText(field: string, value: string | undefined, maxLength: number): string | undefined {
  return value === undefined ? undefined : requireText(field, value, maxLength);
}
