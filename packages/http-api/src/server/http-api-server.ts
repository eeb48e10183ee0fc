import type { AddressInfo } from 'node:net';
import { ClawError, type Logger } from '@clawfleet/protocol';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AdminAuth, sessionCookieHeader } from '../auth/admin-auth.ts';
import { LOGIN_PAGE, LOGIN_SCRIPT } from '../auth/login-page.ts';
import { bigintAsString } from '../events/event-log.ts';
import { EventStream } from '../events/event-stream.ts';
import { registerReadRoutes } from '../routes/read-routes.ts';
import { registerWriteRoutes } from '../routes/write-routes.ts';
import type { HttpApiOptions } from './http-api-options.ts';
import { httpStatusFor } from './http-status.ts';

/** Largest request body: a stimulus of 8,000 characters, in UTF-8 and JSON escapes, fits many times. */
const BODY_LIMIT_BYTES = 256 * 1024;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without the admin token (the login page and the login itself). */
    public?: boolean;
  }
}

/**
 * The orchestrator's HTTP API (docs/http-api.md): the dashboard's static files, JSON read and write
 * routes over the same queries and reducers as the CLI, `GET /events` (Server-Sent Events with
 * `Last-Event-ID` resume), `GET /metrics` and `GET /openapi.json`. Every route but the login page needs
 * the admin token; no CORS header is ever sent and a write from another origin is refused.
 */
export class HttpApiServer {
  readonly #app: FastifyInstance;
  readonly #events: EventStream;
  readonly #options: HttpApiOptions;
  readonly #logger: Logger;
  #address: AddressInfo | undefined;

  private constructor(app: FastifyInstance, events: EventStream, options: HttpApiOptions) {
    this.#app = app;
    this.#events = events;
    this.#options = options;
    this.#logger = options.logger.child({ component: 'http' });
  }

  /** Builds the server (routes, schemas, OpenAPI); `listen()` binds it. */
  static async create(options: HttpApiOptions): Promise<HttpApiServer> {
    const optionsCheck = z
      .object({
        host: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65_535),
        adminToken: z.string().min(16),
        staticDirectory: z.string().min(1).optional(),
      })
      .safeParse(options);
    if (!optionsCheck.success) {
      const issue = optionsCheck.error.issues[0];
      throw new ClawError('CONFIG_INVALID', `Invalid HTTP API option \`${issue?.path.join('.')}\`: ${issue?.message}`);
    }
    const auth = new AdminAuth(options.adminToken, options.authLimit === undefined ? {} : { limit: options.authLimit });
    const logger = options.logger.child({ component: 'http' });
    const app = Fastify({
      bodyLimit: BODY_LIMIT_BYTES,
      // Open event streams must not keep `close()` waiting.
      forceCloseConnections: true,
      // The orchestrator's logger logs what matters (failures, auth, drops); fastify's per-request lines would drown it.
      logger: false,
      // Ids in paths are small; a huge path is refused before routing.
      routerOptions: { maxParamLength: 200 },
    });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.setReplySerializer((payload) => JSON.stringify(payload, bigintAsString));
    const events = new EventStream({
      source: options.rowChanges,
      logger: options.logger,
      ...(options.events?.resumeCapacity === undefined ? {} : { resumeCapacity: options.events.resumeCapacity }),
      ...(options.events?.clientBufferBytes === undefined
        ? {}
        : { clientBufferBytes: options.events.clientBufferBytes }),
      ...(options.events?.heartbeatMs === undefined ? {} : { heartbeatMs: options.events.heartbeatMs }),
      ...(options.events?.firstEventId === undefined ? {} : { firstEventId: options.events.firstEventId }),
      ...(options.onEventClientDropped === undefined ? {} : { onClientDropped: options.onEventClientDropped }),
    });

    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Clawfleet orchestrator HTTP API',
          version: '1',
          description:
            'What a person sees of a running fleet and the few things a person does. Every route needs the admin token (the `cli` entry of the tokens file) as `Authorization: Bearer <token>` or the session cookie `POST /api/login` sets. Errors are `{ error: { code, message } }` with a ClawError code.',
        },
        // Every route needs one of them, except the login page and the login itself.
        security: [{ bearer: [] }, { session: [] }],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            session: { type: 'apiKey', in: 'cookie', name: 'claw_session' },
          },
        },
      },
      transform: jsonSchemaTransform,
    });

    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'no-referrer');
      refuseCrossOrigin(request);
      if (request.routeOptions.config?.public === true) return;
      try {
        auth.check(request.ip, { authorization: request.headers.authorization, cookie: request.headers.cookie });
      } catch (error) {
        // A person opening a page without a session is sent to the login page instead of a JSON error.
        if (
          error instanceof ClawError &&
          error.code === 'AUTH_FAILED' &&
          request.method === 'GET' &&
          request.headers.authorization === undefined &&
          (request.headers.accept ?? '').includes('text/html')
        ) {
          return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
        }
        if (error instanceof ClawError && error.code !== 'AUTH_FAILED') throw error;
        logger.warn({ address: request.ip, url: request.url.slice(0, 200) }, 'request without a valid admin token');
        throw error;
      }
    });
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
      return payload;
    });

    app.setErrorHandler((error: FastifyError | ClawError, request, reply) => sendError(error, request, reply, logger));
    app.setNotFoundHandler((request) => {
      throw new ClawError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`);
    });

    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get(
      '/login',
      { config: { public: true }, schema: { tags: ['session'], summary: 'The login page (HTML)', security: [] } },
      (_request, reply) =>
        reply
          .header('content-type', 'text/html; charset=utf-8')
          .header(
            'content-security-policy',
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
          )
          .send(LOGIN_PAGE),
    );
    typed.get('/login.js', { config: { public: true }, schema: { hide: true } }, (_request, reply) =>
      reply.header('content-type', 'text/javascript; charset=utf-8').send(LOGIN_SCRIPT),
    );
    typed.post(
      '/api/login',
      {
        config: { public: true },
        schema: {
          tags: ['session'],
          summary: 'Check the admin token and set the session cookie (HttpOnly, SameSite=Strict)',
          // Reachable without the token: it is how a browser gets its session.
          security: [],
          body: z.strictObject({ token: z.string().min(1, { error: 'the token is empty' }).max(1024) }),
        },
      },
      (request, reply) => {
        auth.login(request.ip, request.body.token.trim());
        logger.info({ address: request.ip }, 'logged in');
        return reply
          .header('set-cookie', sessionCookieHeader(auth.sessionValue, request.protocol === 'https'))
          .status(204)
          .send();
      },
    );
    typed.post(
      '/api/logout',
      { schema: { tags: ['session'], summary: 'Expire the session cookie' } },
      (request, reply) =>
        reply
          .header('set-cookie', sessionCookieHeader(undefined, request.protocol === 'https'))
          .status(204)
          .send(),
    );

    registerReadRoutes(app, options);
    registerWriteRoutes(app, options);

    typed.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary:
            'Server-Sent Events: `row` ({table, op, row}) for every committed bus row change, `phase` ({agent, phase, taskId, cycleId}) when an agent changes phase, `reset` when `Last-Event-ID` is too old to resume',
          headers: z.object({
            'last-event-id': z
              .string()
              .regex(/^\d{1,16}$/)
              .optional(),
          }),
          querystring: z.strictObject({
            lastEventId: z
              .string()
              .regex(/^\d{1,16}$/)
              .optional(),
          }),
        },
      },
      (request, reply) => {
        const raw = request.headers['last-event-id'] ?? request.query.lastEventId;
        reply.hijack();
        reply.raw.setHeader('x-content-type-options', 'nosniff');
        events.attach(reply.raw, typeof raw === 'string' ? Number(raw) : undefined);
      },
    );
    typed.get(
      '/metrics',
      { schema: { tags: ['metrics'], summary: 'Prometheus metrics (text exposition format); docs/metrics.md' } },
      async (_request, reply) =>
        reply.header('content-type', options.metrics.contentType).send(await options.metrics.scrape()),
    );
    typed.get('/openapi.json', { schema: { tags: ['meta'], summary: 'This description (OpenAPI 3.1)' } }, () =>
      app.swagger(),
    );

    if (options.staticDirectory !== undefined) {
      await app.register(fastifyStatic, { root: options.staticDirectory, prefix: '/', index: ['index.html'] });
    } else {
      typed.get('/', { schema: { hide: true } }, (_request, reply) =>
        reply
          .header('content-type', 'text/html; charset=utf-8')
          .send(
            '<!doctype html><html lang="en"><meta charset="utf-8"><title>Clawfleet</title><main><h1>Clawfleet</h1><p>This orchestrator serves no dashboard files. The API is described at <a href="/openapi.json">/openapi.json</a>; live events are at <a href="/events">/events</a>.</p></main></html>',
          ),
      );
    }
    await app.ready();
    return new HttpApiServer(app, events, options);
  }

  /** Where the server listens, once `listen()` resolved. */
  get address(): AddressInfo {
    if (this.#address === undefined) throw new ClawError('INTERNAL', 'The HTTP API is not listening yet');
    return this.#address;
  }

  /** `http://host:port`, for logs and clients. */
  get url(): string {
    const { address, port, family } = this.address;
    return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  }

  /** The event stream (`GET /events`): publish, count clients. */
  get events(): EventStream {
    return this.#events;
  }

  /** The OpenAPI document generated from the route schemas. */
  openapi(): Record<string, unknown> {
    return this.#app.swagger() as unknown as Record<string, unknown>;
  }

  /** Handles a request without a socket (tests). */
  inject(...args: Parameters<FastifyInstance['inject']>): ReturnType<FastifyInstance['inject']> {
    return this.#app.inject(...args);
  }

  /** Binds host and port; a port in use rejects with SOCKET_IN_USE. */
  async listen(): Promise<AddressInfo> {
    const host = this.#options.host ?? '127.0.0.1';
    try {
      await this.#app.listen({ host, port: this.#options.port });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new ClawError('SOCKET_IN_USE', `Port ${this.#options.port} on ${host} is in use by another program`, {
          cause: error,
          details: { host, port: this.#options.port },
        });
      }
      throw new ClawError(
        'CONFIG_INVALID',
        `Cannot listen on ${host}:${this.#options.port}: ${(error as Error).message}`,
        {
          cause: error,
          details: { host, port: this.#options.port },
        },
      );
    }
    this.#address = this.#app.server.address() as AddressInfo;
    this.#logger.info({ url: this.url }, 'HTTP API listening');
    return this.#address;
  }

  /** Ends the event streams and closes the server. */
  async close(): Promise<void> {
    this.#events.close();
    await this.#app.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A browser sends `Origin` (and `Sec-Fetch-Site`) with writes; one from another origin is refused,
 * so a page elsewhere cannot post with the person's session cookie (SameSite=Strict already keeps
 * the cookie back; this also covers a token a page might have). Reads cannot be read cross-origin
 * without CORS headers, which this server never sends.
 */
function refuseCrossOrigin(request: FastifyRequest): void {
  if (request.method === 'GET' || request.method === 'HEAD') return;
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new ClawError(
      'FORBIDDEN',
      'Cross-origin requests are refused; use the dashboard served by this orchestrator',
    );
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== request.headers.host) {
    throw new ClawError(
      'FORBIDDEN',
      `Cross-origin requests are refused (Origin ${origin.slice(0, 100)} is not this server); use the dashboard served by this orchestrator`,
    );
  }
}

/** Every failure as `{ error: { code, message } }` with the ClawError code and its HTTP status. */
function sendError(
  error: FastifyError | ClawError,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
): void {
  let clawError: ClawError;
  if (error instanceof ClawError) clawError = error;
  else if (hasZodFastifySchemaValidationErrors(error)) {
    const where = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }[
      error.validationContext ?? 'body'
    ];
    clawError = new ClawError(
      'INVALID_PARAMS',
      `Invalid ${where ?? error.validationContext}: ${error.validation
        .map((issue) => {
          const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
          return `${field ? `\`${field}\` ` : ''}${issue.message}`;
        })
        .join('; ')}`,
    );
  } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    // fastify's own refusals: malformed JSON, a wrong content type, a body over the limit.
    clawError = new ClawError(error.statusCode === 404 ? 'NOT_FOUND' : 'INVALID_PARAMS', error.message);
  } else {
    clawError = ClawError.from(error);
  }
  const status = httpStatusFor(clawError.code);
  if (status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
  const retryAfter = clawError.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
  void reply.status(status).send({
    error: {
      code: clawError.code,
      message: clawError.message,
      ...(Object.keys(clawError.details).length > 0 ? { details: clawError.details } : {}),
    },
  });
}
