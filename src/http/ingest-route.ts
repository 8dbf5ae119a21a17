/**
 * POST /v1/logs:ingest. The order is the contract: authenticate, rate-limit, read the body within
 * its limits, validate and mask the whole batch, append it to the key's WAL, and answer 202 only
 * once the append is durable.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../observability/metrics.js';
import type { IngestPipeline } from '../pipeline/types.js';
import type { WalStore } from '../wal/types.js';
import { acceptJsonBodies, type BodyLimits } from './body.js';

/** Fastify's spelling of `/v1/logs:ingest`: a single colon would declare a path parameter. */
export const INGEST_ROUTE = '/v1/logs::ingest';

/** `token` label of refusals before any key was recognised; no key name can look like this. */
export const UNAUTHENTICATED = '(none)';

export interface IngestRouteOptions {
  pipeline: IngestPipeline;
  wal: WalStore;
  metrics: Metrics;
  clock: () => number;
  body: BodyLimits;
}

/** Entries of a refused request: as many as its body lists, else 1. */
function entriesIn(body: unknown): number {
  const entries = (body as { entries?: unknown } | undefined)?.entries;
  return Array.isArray(entries) && entries.length > 0 ? entries.length : 1;
}

export const ingestRoute: FastifyPluginAsync<IngestRouteOptions> = async (app, { pipeline, wal, metrics, clock, body }) => {
  acceptJsonBodies(app, body);

  app.addHook('onResponse', async (request) => {
    if (request.apiError === null) return;
    metrics.logsRejected.inc({ token: request.keyName ?? UNAUTHENTICATED, reason: request.apiError }, entriesIn(request.body));
  });

  app.post(
    INGEST_ROUTE,
    {
      onRequest: [app.requireApiKey, app.enforceRateLimit],
      schema: {
        response: {
          202: {
            type: 'object',
            properties: { accepted: { type: 'integer' }, request_id: { type: 'string' } },
            required: ['accepted', 'request_id'],
          },
        },
      },
    },
    async (request, reply) => {
      const name = request.keyName!;
      const batch = pipeline.prepare(name, request.body, clock());
      await wal.token(name).append(batch.payloads);
      metrics.logsIngested.inc({ token: name }, batch.entries);
      reply.code(202);
      return { accepted: batch.entries, request_id: request.id };
    },
  );
};
