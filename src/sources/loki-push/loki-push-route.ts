/**
 * Loki's own push API, `POST /loki/api/v1/push` and its legacy alias `POST /api/prom/push`, so
 * that any Loki client (Alloy, Promtail, Docker's driver, Fluent Bit, pino-loki, winston-loki)
 * ships through LogStack unchanged. The order is the ingest route's: authenticate (Bearer, or
 * Basic with the token as password), rate-limit, read the body within its limits, validate and
 * mask the whole push, append it to the key's WAL, and answer 204 — as Loki does — only once the
 * append is durable.
 *
 * Statuses keep Loki's meaning, which its clients' retry logic relies on: 400 for a body or
 * entries that can never be accepted (not retried), 413, 429 with Retry-After, 5xx (retried).
 *
 * The tenant is the key's (`security.api_keys.<token>.tenant`); a client's X-Scope-OrgID is
 * ignored. A key's WAL is shipped under one tenant, so honouring the header would need a WAL
 * lane per tenant.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { logstackError } from '../../errors.js';
import { UNAUTHENTICATED } from '../../http/auth.js';
import { HELD_ENTRY_BYTES } from '../../http/body-budget.js';
import { decorateBodyHold, workOnBody } from '../../http/body-hold.js';
import { admitBody, boundedBody, chargeJsonParse, describeJsonError, holdOrRefuse, type BodyLimits } from '../../http/body.js';
import { decorateReleasedBody, releaseBody } from '../../http/released-body.js';
import type { Metrics } from '../../observability/metrics.js';
import { freeBuffer } from '../../pipeline/freed-buffer.js';
import type { WalStore } from '../../wal/types.js';
import { decompressPushBody, pushBodyFormat } from './loki-push-body.js';
import { metadataPairsCost } from './loki-push-decode-cost.js';
import { decodeJsonPush, decodeLegacyJsonPush, decodeProtobufPush, type PushBounds } from './loki-push-decode.js';
import type { LokiPushRequest } from './loki-push-request.js';

export const LOKI_PUSH_ROUTE = '/loki/api/v1/push';
/** Loki's route before its v1 API; its JSON is logproto's, not v1's. */
export const LEGACY_PUSH_ROUTE = '/api/prom/push';

/** The pipeline is the request's own (`request.settings.lokiPush`, edge-settings.ts). */
export interface LokiPushRouteOptions {
  /** How many entries and streams a push may hold; its pairs per entry are the request's pipeline's. */
  bounds: Omit<PushBounds, 'maxMetadataPairs'>;
  wal: WalStore;
  metrics: Metrics;
  clock: () => number;
  body: BodyLimits;
}

/** U+FEFF as UTF-8. */
const BYTE_ORDER_MARK = Buffer.from([0xef, 0xbb, 0xbf]);

function parseJson(bytes: Buffer): unknown {
  // A byte-order mark before the JSON is ignored, as on /v1/logs:ingest (RFC 8259 §8.1 allows it).
  const text = bytes.toString('utf8', bytes.subarray(0, 3).equals(BYTE_ORDER_MARK) ? 3 : 0);
  try {
    return JSON.parse(text);
  } catch {
    throw logstackError('HTTP_INVALID_JSON', [describeJsonError(text)]);
  }
}

async function decodePush(request: FastifyRequest, raw: Buffer, limits: BodyLimits, pushBounds: Omit<PushBounds, 'maxMetadataPairs'>): Promise<LokiPushRequest> {
  const pipeline = request.settings.lokiPush;
  if (pipeline === null) throw new TypeError('the Loki push route is served only with loki_push.enabled');
  const bounds: PushBounds = { ...pushBounds, maxMetadataPairs: pipeline.maxMetadataPairs };
  const format = pushBodyFormat(request.headers['content-type'], request.headers['content-encoding']);
  const lease = request.bodyHold!.lease;
  let bytes = raw;
  let push: LokiPushRequest;
  try {
    bytes = await decompressPushBody(raw, format, limits.maxBytes, lease);
    if (format.type === 'protobuf') {
      // Its pairs weighed on the wire first: millions fit in 5 MB, each an array and two strings decoded.
      holdOrRefuse(lease, metadataPairsCost(bytes, bounds.maxMetadataPairs));
      push = decodeProtobufPush(bytes, bounds);
    } else {
      chargeJsonParse(request, bytes);
      const json = parseJson(bytes);
      push = request.routeOptions.url === LEGACY_PUSH_ROUTE ? decodeLegacyJsonPush(json, bounds) : decodeJsonPush(json, bounds);
    }
  } finally {
    // What the push decodes to holds copies (strings), never views of the body.
    freeBuffer(raw);
    freeBuffer(bytes);
  }
  // Decoding runs on the event loop, one push at a time: this is counted before another begins.
  holdOrRefuse(lease, push.entries * HELD_ENTRY_BYTES);
  return push;
}

export const lokiPushRoute: FastifyPluginAsync<LokiPushRouteOptions> = async (app, { bounds, wal, metrics, clock, body }) => {
  app.removeAllContentTypeParsers();
  // Every content type reaches this parser; pushBodyFormat refused the unsupported ones already.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: body.maxBytes }, async (request: FastifyRequest, raw: Buffer) =>
    decodePush(request, raw, body, bounds),
  );

  decorateBodyHold(app);
  app.addHook('preParsing', async (request, reply, payload) => {
    pushBodyFormat(request.headers['content-type'], request.headers['content-encoding']);
    // Refused before a byte is read.
    const lease = admitBody(request, reply, body);
    return boundedBody(payload, 'identity', body, lease);
  });

  decorateReleasedBody(app);
  app.addHook('onResponse', async (request) => {
    if (request.apiError === null) return;
    const entries = request.releasedEntries ?? (request.body as LokiPushRequest | undefined)?.entries ?? 0;
    metrics.logsRejected.inc({ token: request.keyName ?? UNAUTHENTICATED, reason: request.apiError }, Math.max(1, entries));
  });

  for (const url of [LOKI_PUSH_ROUTE, LEGACY_PUSH_ROUTE]) {
    app.post(url, { onRequest: [app.requireLokiClientKey, app.enforceRateLimit] }, async (request, reply) =>
      workOnBody(request, async (clientGone) => {
        // No Content-Type and no body: fastify skips the parser. Loki cannot read an empty body either.
        if (request.body === undefined) throw logstackError('LOKI_PUSH_UNDECODABLE', ['the body is empty']);
        const name = request.keyName!;
        const push = request.body as LokiPushRequest;
        const pipeline = request.settings.lokiPush;
        if (pipeline === null) throw new TypeError('the Loki push route is served only with loki_push.enabled');
        const tokenWal = wal.token(name);
        const batch = await pipeline.prepare(name, push, clock(), tokenWal, clientGone);
        releaseBody(request, push.entries);
        if (batch.entries > 0) await tokenWal.append(batch.batch);
        metrics.logsIngested.inc({ token: name }, batch.entries);
        return reply.code(204).send();
      }),
    );
  }
};
