/**
 * POST /v1/logs:ingest. The order is the contract: authenticate, rate-limit, read the body within
 * its limits, validate and mask the whole batch, append it to the key's WAL, and answer 202 only
 * once the append is durable.
 */
import type { FastifyPluginAsync } from 'fastify';
import { UNAUTHENTICATED } from '../../http/auth.js';
import { HELD_ENTRY_BYTES } from '../../http/body-budget.js';
import { workOnBody } from '../../http/body-hold.js';
import { acceptJsonBodies, holdOrRefuse, type BodyLimits } from '../../http/body.js';
import { API_KEY_SECURITY, errorResponses } from '../../http/openapi.js';
import { decorateReleasedBody, releaseBody } from '../../http/released-body.js';
import type { Metrics } from '../../observability/metrics.js';
import type { WalStore } from '../../wal/types.js';
import { ENTRIES_SCHEMA } from './validate.js';

/** Fastify's spelling of `/v1/logs:ingest`: a single colon would declare a path parameter. */
export const INGEST_ROUTE = '/v1/logs::ingest';

/** The pipeline is the request's own (`request.settings.ingest`, edge-settings.ts). */
export interface IngestRouteOptions {
  wal: WalStore;
  metrics: Metrics;
  clock: () => number;
  body: BodyLimits;
}

/** For the API description only: the pipeline validates the body (see the route's validatorCompiler). */
const bodySchema = {
  type: 'object',
  description:
    'All or nothing: one invalid entry refuses the batch, with every problem of every entry in `details` (the first 100; the message counts the rest). ' +
    'Beyond this shape: `timestamp` is RFC 3339 with a zone, within limits.max_past_seconds and limits.max_future_seconds of now; ' +
    '`message` is at most limits.max_message_bytes UTF-8 bytes; `metadata` nests at most limits.max_metadata_depth levels ' +
    'and holds at most limits.max_metadata_keys leaf values, under keys of at most limits.max_metadata_key_bytes UTF-8 bytes. ' +
    'Sent as application/json, plain or with Content-Encoding gzip.',
  properties: { entries: { ...ENTRIES_SCHEMA, minItems: 1, description: '1 to limits.max_entries entries' } },
  required: ['entries'],
  additionalProperties: false,
} as const;

/** Entries of a refused request: as many as its body lists, else 1. */
function entriesIn(body: unknown): number {
  const entries = (body as { entries?: unknown } | undefined)?.entries;
  return Array.isArray(entries) && entries.length > 0 ? entries.length : 1;
}

export const ingestRoute: FastifyPluginAsync<IngestRouteOptions> = async (app, { wal, metrics, clock, body }) => {
  acceptJsonBodies(app, body);
  decorateReleasedBody(app);

  app.addHook('onResponse', async (request) => {
    if (request.apiError === null) return;
    metrics.logsRejected.inc({ token: request.keyName ?? UNAUTHENTICATED, reason: request.apiError }, request.releasedEntries ?? entriesIn(request.body));
  });

  app.post(
    INGEST_ROUTE,
    {
      onRequest: [app.requireApiKey, app.enforceRateLimit],
      // The pipeline validates the body, all or nothing with a reason per entry, which ajv's
      // first-error answer cannot give; `schema.body` only describes it. The route has no other
      // part (querystring, params, headers) to validate.
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Send a batch of log entries',
        description: 'Answered 202 only once the whole batch is masked and durable in the WAL of the key.',
        tags: ['ingest'],
        security: API_KEY_SECURITY,
        body: bodySchema,
        response: {
          202: {
            type: 'object',
            description: 'Durable on disk; delivered to Loki later',
            properties: { accepted: { type: 'integer' }, request_id: { type: 'string' } },
            required: ['accepted', 'request_id'],
          },
          ...errorResponses({
            400: '`validation_failed` (the first 100 problems in `details`), `invalid_json`, `invalid_content_encoding` or `bad_request`',
            401: '`unauthorized`: no API key, or an unknown or inactive one',
            408: '`request_timeout`: the request did not arrive within server.request_timeout_seconds',
            413: '`payload_too_large` (limits.max_body_bytes, or parsed it would hold more than limits.max_body_bytes_in_flight) or `too_many_entries` (limits.max_entries)',
            415: '`unsupported_media_type` or `unsupported_content_encoding`',
            429: '`rate_limit_exceeded` or `wal_quota_exceeded`; see Retry-After',
            503: '`server_busy` (limits.max_body_bytes_in_flight), `disk_reserve_reached`, `wal_unavailable` or `shutting_down`; see Retry-After',
          }),
        },
      },
    },
    async (request, reply) =>
      workOnBody(request, async (clientGone) => {
        const name = request.keyName!;
        const tokenWal = wal.token(name);
        const batch = await request.settings.ingest.prepare(name, request.body, clock(), tokenWal, clientGone);
        // Counted once validated: limits.max_entries bounds what preparing costs.
        holdOrRefuse(request.bodyHold!.lease, batch.entries * HELD_ENTRY_BYTES);
        releaseBody(request, batch.entries);
        await tokenWal.append(batch.batch);
        metrics.logsIngested.inc({ token: name }, batch.entries);
        reply.code(202);
        return { accepted: batch.entries, request_id: request.id };
      }),
  );
};
