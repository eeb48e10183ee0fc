import { z } from 'zod';
import { ERROR_CODES } from './errors.ts';

/** Identity names: agents (`LeadClaw`), the orchestrator, the CLI. */
export const identityNameSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_-]{0,63}$/,
    'an identity name is 1-64 letters, digits, `_` or `-`, starting with a letter',
  );

/** Request methods are dotted lowercase names: `bus.call`, `inference.generate`. */
export const methodNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, 'a method is dotted lowercase words, e.g. `bus.call`')
  .max(128);

/** Request ids are chosen by the requester, unique among its in-flight requests. */
export const requestIdSchema = z.number().int().min(1).max(0xffff_ffff);

const capabilitiesSchema = z.array(z.string().max(64)).max(64);

export const helloFrameSchema = z.strictObject({
  type: z.literal('hello'),
  agent: identityNameSchema,
  token: z.string().min(1).max(1024),
  protocolVersion: z.number().int().min(0),
  capabilities: capabilitiesSchema,
});

export const welcomeFrameSchema = z.strictObject({
  type: z.literal('welcome'),
  protocolVersion: z.number().int().min(0),
  /** Server-assigned id of this connection, for logs. */
  connectionId: z.string().max(64),
  capabilities: capabilitiesSchema,
  /** How often the server sends heartbeats; the client should answer and may send its own. */
  heartbeatIntervalMs: z.number().int().min(0),
});

export const requestFrameSchema = z.strictObject({
  type: z.literal('request'),
  id: requestIdSchema,
  method: methodNameSchema,
  params: z.unknown(),
  /** Milliseconds the caller will wait; the server aborts the handler after it. */
  timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
});

export const responseFrameSchema = z.strictObject({
  type: z.literal('response'),
  id: requestIdSchema,
  result: z.unknown(),
});

export const streamDeltaFrameSchema = z.strictObject({
  type: z.literal('stream-delta'),
  id: requestIdSchema,
  data: z.unknown(),
});

export const streamEndFrameSchema = z.strictObject({
  type: z.literal('stream-end'),
  id: requestIdSchema,
  result: z.unknown(),
});

export const cancelFrameSchema = z.strictObject({
  type: z.literal('cancel'),
  id: requestIdSchema,
  reason: z.string().max(1024).optional(),
});

const errorCodeSchema = z.string().refine((code) => Object.hasOwn(ERROR_CODES, code) || /^[A-Z][A-Z0-9_]*$/.test(code));

export const errorPayloadSchema = z.strictObject({
  code: errorCodeSchema,
  message: z.string().max(16_384),
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const errorFrameSchema = z.strictObject({
  type: z.literal('error'),
  /** The request this error answers; absent for a connection-level error. */
  id: requestIdSchema.optional(),
  error: errorPayloadSchema,
});

export const heartbeatFrameSchema = z.strictObject({
  type: z.literal('heartbeat'),
  /** A `ping` asks the peer for a `pong` with the same nonce. */
  kind: z.enum(['ping', 'pong']),
  nonce: z.number().int().min(0).max(0xffff_ffff),
});

export const eventFrameSchema = z.strictObject({
  type: z.literal('event'),
  /** What the event is about, e.g. `bus.rows` for subscription row changes. */
  topic: methodNameSchema,
  /** The subscription or stream this event belongs to, when it belongs to one. */
  subscriptionId: z.number().int().min(1).max(0xffff_ffff).optional(),
  data: z.unknown(),
});

export const goodbyeFrameSchema = z.strictObject({
  type: z.literal('goodbye'),
  reason: z.string().max(1024),
  /** Whether the peer may reconnect later (e.g. a restart) or should not (e.g. auth revoked). */
  reconnect: z.boolean(),
});

export const frameSchema = z.discriminatedUnion('type', [
  helloFrameSchema,
  welcomeFrameSchema,
  requestFrameSchema,
  responseFrameSchema,
  streamDeltaFrameSchema,
  streamEndFrameSchema,
  cancelFrameSchema,
  errorFrameSchema,
  heartbeatFrameSchema,
  eventFrameSchema,
  goodbyeFrameSchema,
]);

export type HelloFrame = z.infer<typeof helloFrameSchema>;
export type WelcomeFrame = z.infer<typeof welcomeFrameSchema>;
export type RequestFrame = z.infer<typeof requestFrameSchema>;
export type ResponseFrame = z.infer<typeof responseFrameSchema>;
export type StreamDeltaFrame = z.infer<typeof streamDeltaFrameSchema>;
export type StreamEndFrame = z.infer<typeof streamEndFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type ErrorFrame = z.infer<typeof errorFrameSchema>;
export type HeartbeatFrame = z.infer<typeof heartbeatFrameSchema>;
export type EventFrame = z.infer<typeof eventFrameSchema>;
export type GoodbyeFrame = z.infer<typeof goodbyeFrameSchema>;
export type Frame = z.infer<typeof frameSchema>;
export type FrameType = Frame['type'];

export const FRAME_TYPES: readonly FrameType[] = frameSchema.options.map((option) => option.shape.type.value);
