/** The unauthenticated endpoints: service info, liveness, readiness and the metrics exposition. */
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../observability/metrics.js';
import { coalesced } from './coalesced.js';
import { errorResponse } from './openapi.js';
import { evaluateReadiness, isReady, type Readiness } from './readiness.js';

export interface ServiceRoutesOptions {
  version: string;
  metrics: Metrics;
  readiness: Readiness;
}

/** Polled by probes and scrapers. */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

const checkSchema = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, detail: { type: 'string', description: 'Why, in words: the failure, or what was found' } },
  required: ['ok', 'detail'],
} as const;

const readinessSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: { type: 'object', additionalProperties: checkSchema, description: 'The checks evaluated, by name' },
    excluded: { type: 'array', items: { type: 'string' }, description: 'The checks left out with `exclude`' },
  },
  required: ['status', 'checks', 'excluded'],
} as const;

export const serviceRoutes: FastifyPluginAsync<ServiceRoutesOptions> = async (app, { version, metrics, readiness }) => {
  // Rendering the exposition takes milliseconds and tens of kB; scrapes that come while it is
  // rendered (without a token, from anyone) share it.
  const exposition = coalesced(() => metrics.registry.metrics());
  app.get(
    '/',
    {
      schema: {
        summary: 'The service, its version and its endpoints',
        tags: ['service'],
        response: {
          200: {
            type: 'object',
            description: 'Every route, by path and method',
            properties: {
              service: { type: 'string' },
              version: { type: 'string' },
              endpoints: {
                type: 'array',
                items: { type: 'object', properties: { method: { type: 'string' }, path: { type: 'string' } }, required: ['method', 'path'] },
              },
            },
            required: ['service', 'version', 'endpoints'],
          },
        },
      },
    },
    async () => {
      const endpoints = [...app.routeTable]
        .flatMap(([path, methods]) => [...methods].filter((method) => method !== 'HEAD').map((method) => ({ method, path })))
        .sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
      return { service: 'logstack', version, endpoints };
    },
  );

  // Liveness: answering at all proves the event loop turns; it checks nothing else on purpose,
  // so that a Loki outage or a full disk never gets the process restarted.
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: 200 while the process serves, whatever Loki and the disk',
        tags: ['service'],
        response: { 200: { type: 'object', description: 'Alive', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get<{ Querystring: { exclude?: string[] } }>(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: 200 when every check passes, else 503 with the reason of each',
        description:
          'A probe that must not follow Loki excludes its check: `/readyz?exclude=loki` (repeatable). ' +
          'Excluded checks are not run.',
        tags: ['service'],
        querystring: {
          type: 'object',
          properties: {
            exclude: { type: 'array', items: { type: 'string', enum: Object.keys(readiness) }, description: 'A check to leave out; repeatable' },
          },
          additionalProperties: false,
        },
        response: {
          200: { ...readinessSchema, description: 'Ready' },
          400: errorResponse('`exclude` names a check that does not exist'),
          // While shutting down, the error body answers instead of the checks.
          503: { description: 'Not ready, or shutting down', anyOf: [readinessSchema, errorResponse('Shutting down')] },
        },
      },
    },
    async (request, reply) => {
      const excluded = [...new Set(request.query.exclude)];
      const checks = await evaluateReadiness(readiness, new Set(excluded));
      const ready = isReady(checks);
      reply.code(ready ? 200 : 503);
      return { status: ready ? 'ready' : 'not_ready', checks, excluded };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus text exposition (docs/metrics.md)',
        tags: ['service'],
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return exposition();
    },
  );
};
