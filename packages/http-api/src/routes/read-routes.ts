import {
  ATTENTION_STATES,
  fleetStatus,
  listAgents,
  listAttention,
  listMemories,
  listMessages,
  listPlans,
  listReflections,
  listTasks,
  MEMORY_TIERS,
  PLAN_STATES,
  requireAgentName,
  searchMemories,
  TASK_STATES,
  taskDetail,
  usageTotals,
} from '@clawfleet/fleet-views';

import { ClawError } from '@clawfleet/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpApiOptions } from '../server/http-api-options.ts';
import { agentName, idParams, limitQuery, sinceQuery } from './route-schemas.ts';

const READ = { tags: ['read'] };

/** Read routes: each is what the matching `claw` command shows with `--json` (fleet-views). */
export function registerReadRoutes(server: FastifyInstance, options: HttpApiOptions): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const { fleet } = options;

  app.get(
    '/api/status',
    { schema: { ...READ, summary: 'The orchestrator (process, slot pool, bus) and every agent, as `claw status`' } },
    () => fleetStatus(fleet),
  );
  app.get(
    '/api/agents',
    { schema: { ...READ, summary: 'The supervised agents: presence, supervision state, restarts, model' } },
    () => listAgents(fleet),
  );
  app.get(
    '/api/pool',
    { schema: { ...READ, summary: 'The inference slot pool: running, queued by priority, models and busy slots' } },
    async () => (await fleet.status()).pool,
  );
  app.get(
    '/api/tasks',
    {
      schema: {
        ...READ,
        summary: 'Tasks, newest first',
        querystring: z.strictObject({ state: z.enum(TASK_STATES).optional() }),
      },
    },
    (request) => listTasks(fleet, request.query.state ? { state: request.query.state } : {}),
  );
  app.get(
    '/api/tasks/:id',
    {
      schema: {
        ...READ,
        summary: 'One task with its dependencies, cycles, tool calls, actions, messages and reflections',
        params: idParams,
      },
    },
    (request) => taskDetail(fleet, request.params.id),
  );
  app.get(
    '/api/messages',
    {
      schema: {
        ...READ,
        summary: 'Messages between agents, oldest first (the newest `limit`)',
        querystring: z.strictObject({ agent: agentName.optional(), limit: limitQuery(200) }),
      },
    },
    async (request) => {
      const { agent, limit } = request.query;
      if (agent !== undefined) await requireAgentName(fleet, agent);
      return listMessages(fleet, { ...(agent === undefined ? {} : { agent }), limit });
    },
  );
  app.get(
    '/api/reflections',
    {
      schema: {
        ...READ,
        summary: "The agents' reflections, oldest first (the newest `limit`)",
        querystring: z.strictObject({
          agent: agentName.optional(),
          since: sinceQuery.optional(),
          limit: limitQuery(200),
        }),
      },
    },
    async (request) => {
      const { agent, since, limit } = request.query;
      if (agent !== undefined) await requireAgentName(fleet, agent);
      return listReflections(fleet, {
        ...(agent === undefined ? {} : { agent }),
        ...(since === undefined ? {} : { since }),
        limit,
      });
    },
  );
  app.get(
    '/api/memory/:agent',
    {
      schema: {
        ...READ,
        summary:
          "An agent's memories, newest first; with `search`, ranked by words, recency and importance (its own and shared ones)",
        params: z.strictObject({ agent: agentName }),
        querystring: z.strictObject({
          tier: z.enum(MEMORY_TIERS).optional(),
          search: z.string().trim().min(1).max(1000).optional(),
          archived: z.enum(['true', 'false']).optional(),
          limit: limitQuery(50),
        }),
      },
    },
    async (request) => {
      const { agent } = request.params;
      const { tier, search, archived, limit } = request.query;
      await requireAgentName(fleet, agent);
      const listOptions = { ...(tier === undefined ? {} : { tier }), archived: archived === 'true', limit };
      if (search === undefined) return listMemories(fleet, agent, listOptions);
      return (await searchMemories(fleet, agent, search, listOptions)).map((result) => ({
        ...result.entry,
        score: result.score,
      }));
    },
  );
  app.get(
    '/api/memory/entries/:id/provenance',
    {
      schema: {
        ...READ,
        summary: 'Where a memory entry came from: compactions, reflections, cycles, stimuli, tool and inference calls',
        params: idParams,
      },
    },
    async (request) => {
      if (options.provenance === undefined) {
        throw new ClawError('NOT_FOUND', 'This orchestrator was started without a provenance lookup');
      }
      return options.provenance(request.params.id, fleet);
    },
  );
  app.get(
    '/api/attention',
    {
      schema: {
        ...READ,
        summary: 'Attention requests from agents, most urgent first',
        querystring: z.strictObject({ state: z.enum(ATTENTION_STATES).default('open') }),
      },
    },
    (request) => listAttention(fleet, request.query.state),
  );
  app.get(
    '/api/plans',
    {
      schema: {
        ...READ,
        summary: 'Plans agents submitted for approval, oldest first',
        querystring: z.strictObject({ state: z.enum(PLAN_STATES).default('pending') }),
      },
    },
    (request) => listPlans(fleet, request.query.state),
  );
  app.get(
    '/api/usage',
    {
      schema: {
        ...READ,
        summary: 'Inference used per agent and model: requests, tokens, time',
        querystring: z.strictObject({ since: sinceQuery.optional() }),
      },
    },
    (request) => usageTotals(fleet, request.query.since === undefined ? {} : { since: request.query.since }),
  );
}
