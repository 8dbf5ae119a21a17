/** The unauthenticated endpoints: service info, liveness, readiness and the metrics exposition. */
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../observability/metrics.js';
import { isReady, type Readiness } from './readiness.js';

export interface ServiceRoutesOptions {
  version: string;
  metrics: Metrics;
  readiness: Readiness;
}

/** Polled by probes and scrapers. */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

const checkSchema = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
  required: ['ok', 'detail'],
} as const;

const readinessSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: checkSchema } },
  required: ['status', 'checks'],
} as const;

export const serviceRoutes: FastifyPluginAsync<ServiceRoutesOptions> = async (app, { version, metrics, readiness }) => {
  app.get(
    '/',
    {
      schema: {
        response: {
          200: {
            type: 'object',
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
    { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } } } },
    async () => ({ status: 'ok' }),
  );

  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const checks = await readiness();
    const ready = isReady(checks);
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not_ready', checks };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
