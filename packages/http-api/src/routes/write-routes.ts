import {
  createStimulus,
  DEFAULT_STIMULUS_PRIORITY,
  decidePlan,
  requireAgentName,
  resolveAttention,
  STIMULUS_TEXT_MAX_LENGTH,
} from '@clawfleet/fleet-views';
import { ClawError } from '@clawfleet/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpApiOptions } from '../server/http-api-options.ts';
import { agentName, agentParams, idParams, personText } from './route-schemas.ts';

const WRITE = { tags: ['write'] };

/** Write routes: only what a person does, each through the same reducer call as the matching `claw` command. */
export function registerWriteRoutes(server: FastifyInstance, options: HttpApiOptions): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const { fleet } = options;

  app.post(
    '/api/stimuli',
    {
      schema: {
        ...WRITE,
        summary: 'Give the agents something to act on (as `claw stimulus`); answers the created stimulus',
        body: z.strictObject({
          text: z
            .string()
            .trim()
            .min(1, { error: 'the stimulus text is empty: say what you want done' })
            .max(STIMULUS_TEXT_MAX_LENGTH, { error: `expected at most ${STIMULUS_TEXT_MAX_LENGTH} characters` }),
          to: agentName.optional(),
          priority: z
            .number({ error: 'expected an integer 0-9' })
            .int({ error: 'expected an integer 0-9' })
            .min(0, { error: 'expected an integer 0-9' })
            .max(9, { error: 'expected an integer 0-9' })
            .default(DEFAULT_STIMULUS_PRIORITY),
        }),
      },
    },
    async (request, reply) => {
      const { text, to, priority } = request.body;
      if (to !== undefined) await requireAgentName(fleet, to);
      const stimulus = await createStimulus(fleet, { text, priority, to, source: 'http' });
      return reply.status(201).send(stimulus);
    },
  );
  app.post(
    '/api/attention/:id/resolve',
    {
      schema: {
        ...WRITE,
        summary: 'Answer an open attention request (as `claw attention resolve`)',
        params: idParams,
        body: z.strictObject({ resolution: personText.optional() }).default({}),
      },
    },
    async (request) => {
      const resolution = request.body.resolution || 'resolved';
      const before = await resolveAttention(fleet, request.params.id, resolution);
      const [after] = await fleet.query('attention_request', { id: request.params.id });
      return after ?? before;
    },
  );
  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/api/plans/:id/${decision}`,
      {
        schema: {
          ...WRITE,
          summary:
            decision === 'approve'
              ? 'Approve a pending plan, so the agent may carry it out (as `claw approve`)'
              : 'Reject a pending plan; the reason is required, the agent reflects on it (as `claw reject`)',
          params: idParams,
          body: z.strictObject({ reason: personText.optional() }).default({}),
        },
      },
      async (request) => {
        const reason = request.body.reason ?? '';
        if (decision === 'reject' && reason === '') {
          throw new ClawError('INVALID_PARAMS', 'Say why the plan is rejected: `reason` is required');
        }
        await decidePlan(fleet, request.params.id, decision === 'approve', reason);
        const [plan] = await fleet.query('plan', { id: request.params.id });
        return plan;
      },
    );
  }
  for (const action of ['pause', 'resume', 'restart'] as const) {
    app.post(
      `/api/agents/:name/${action}`,
      {
        schema: {
          ...WRITE,
          summary: {
            pause: 'Stop the agent (drained) and keep it stopped until resume (as `claw agents pause`)',
            resume: 'Start a paused agent again (as `claw agents resume`)',
            restart: 'Stop the agent (drained) and start a fresh process (as `claw agents restart`)',
          }[action],
          params: agentParams,
        },
      },
      async (request) => {
        await requireAgentName(fleet, request.params.name);
        return fleet.agentControl(request.params.name, action);
      },
    );
  }
}
