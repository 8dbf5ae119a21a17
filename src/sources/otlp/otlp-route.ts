/**
 * `POST /v1/logs`: OpenTelemetry logs over OTLP/HTTP, from the SDKs' OTLP exporters and the
 * Collector's `otlphttp` exporter. The order is the other ways in's: authenticate (Bearer, or
 * Basic with the token as password), rate-limit, read the body within `limits.max_body_bytes`
 * (as sent and once gzip-inflated), decode, map and mask every record, append the accepted ones
 * to the key's WAL, and answer `200` only once that append is durable.
 *
 * Records Loki would refuse are left out and counted in a partial success; the rest is kept.
 * Answers follow export-answer.ts, encoded like the request.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { logstackError } from '../../errors.js';
import { UNAUTHENTICATED } from '../../http/auth.js';
import { HELD_ENTRY_BYTES } from '../../http/body-budget.js';
import { decorateBodyHold, workOnBody } from '../../http/body-hold.js';
import { admitBody, boundedBody, contentCoding, holdOrRefuse, type BodyLimits } from '../../http/body.js';
import { errorAnswer } from '../../http/error-handler.js';
import { API_KEY_SECURITY } from '../../http/openapi.js';
import { decorateReleasedBody, releaseBody } from '../../http/released-body.js';
import type { Metrics } from '../../observability/metrics.js';
import { freeBuffer } from '../../pipeline/freed-buffer.js';
import type { WalRoom, WalStore } from '../../wal/types.js';
import { exportAnswer, statusAnswer } from './export-answer.js';
import type { PreparedExport } from './otlp-pipeline.js';
import { decodeOtlpRequest, otlpFormat, type DecodedRequest, type OtlpFormat } from './request-decode.js';

/** OTLP/HTTP's default path for logs. */
export const OTLP_LOGS_ROUTE = '/v1/logs';

/** `error` code counted for records refused within a partial success. */
const PARTIAL_REJECTION = 'validation_failed';

/** The pipeline is the request's own (`request.settings.otlp`, edge-settings.ts). */
export interface OtlpRouteOptions {
  wal: WalStore;
  metrics: Metrics;
  clock: () => number;
  body: BodyLimits;
  maxLogRecords: number;
}

/** How the answer is encoded: like the request, protobuf unless it was JSON. */
function answerFormat(request: FastifyRequest): OtlpFormat {
  try {
    return otlpFormat(request.headers['content-type']);
  } catch {
    return 'protobuf';
  }
}

/** The partial success message: how many, and the first problems where and why. */
function partialSuccessMessage(prepared: PreparedExport, records: number): string {
  const listed = prepared.problems.map((p) => `${p.where} ${p.reason}`).join('; ');
  const more = prepared.rejected > prepared.problems.length ? '; …' : '';
  return `${prepared.rejected} of ${records} log records were rejected, the others are stored: ${listed}${more}`;
}

export const otlpRoute: FastifyPluginAsync<OtlpRouteOptions> = async (app, { wal, metrics, clock, body, maxLogRecords }) => {
  app.removeAllContentTypeParsers();
  // Every content type reaches this parser; the preParsing hook refused the unsupported ones.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: body.maxBytes }, async (request: FastifyRequest, raw: Buffer) => {
    const lease = request.bodyHold!.lease;
    // Decoding runs on the event loop, one request at a time: each charge is counted before another request's.
    const charge = (bytes: number): void => holdOrRefuse(lease, bytes, (held, budgetBytes) => logstackError('OTLP_TOO_COSTLY', [held, budgetBytes]));
    const format = otlpFormat(request.headers['content-type']);
    let decoded: DecodedRequest;
    try {
      decoded = decodeOtlpRequest(raw, format, maxLogRecords, charge);
      charge(decoded.records * HELD_ENTRY_BYTES);
    } catch (err) {
      freeBuffer(raw);
      throw err;
    }
    // protobufjs decodes bytes fields (trace and span ids) as views of the body: it is freed
    // once the records are prepared. JSON decodes to strings.
    if (format === 'protobuf') request.bodyBytes = raw;
    else freeBuffer(raw);
    return decoded;
  });

  decorateBodyHold(app);
  app.addHook('preParsing', async (request, reply, payload) => {
    otlpFormat(request.headers['content-type']);
    const coding = contentCoding(request.headers['content-encoding']);
    // Refused before a byte is read (or inflated).
    const lease = admitBody(request, reply, body);
    return boundedBody(payload, coding, body, lease);
  });

  decorateReleasedBody(app);
  app.addHook('onResponse', async (request) => {
    if (request.apiError === null) return;
    const records = request.releasedEntries ?? (request.body as DecodedRequest | undefined)?.records ?? 0;
    metrics.logsRejected.inc({ token: request.keyName ?? UNAUTHENTICATED, reason: request.apiError }, Math.max(1, records));
  });

  // Every refusal is a google.rpc.Status, as OTLP clients read it; status and headers as elsewhere.
  app.setErrorHandler((err, request, reply) => {
    const error = errorAnswer(err, request, reply, body.maxBytes);
    const answer = statusAnswer(answerFormat(request), reply.statusCode, error);
    return reply.type(answer.contentType).send(answer.body);
  });

  /**
   * The request's batch, its decoded records already unreachable: they are ~1 KB a record,
   * and held through the WAL's fsync they were promoted to the old generation by the megabyte.
   */
  const prepare = async (request: FastifyRequest, format: OtlpFormat, name: string, room: WalRoom, clientGone: AbortSignal): Promise<{ prepared: PreparedExport; records: number }> => {
    // No body at all: fastify skips the parser. An empty protobuf message is an empty request, one message.
    const decoded = (request.body as DecodedRequest | undefined) ?? decodeOtlpRequest(Buffer.alloc(0), format, maxLogRecords, () => {});
    const pipeline = request.settings.otlp;
    if (pipeline === null) throw new TypeError('the OTLP route is served only with otlp.enabled');
    const prepared = await pipeline.prepare(name, decoded.request, clock(), room, clientGone);
    releaseBody(request, decoded.records);
    return { prepared, records: decoded.records };
  };

  app.post(
    OTLP_LOGS_ROUTE,
    {
      onRequest: [app.requireLokiClientKey, app.enforceRateLimit],
      schema: {
        summary: 'Send OpenTelemetry logs (OTLP/HTTP)',
        description:
          'An OTLP `ExportLogsServiceRequest` as `application/x-protobuf` or OTLP JSON (`application/json`), plain or gzip. ' +
          'Answered 200 once the accepted records are durable in the WAL of the key, with a `partial_success` counting those ' +
          "refused for Loki's limits; errors are `google.rpc.Status` bodies encoded like the request. The token may also be " +
          'the password of Basic auth.',
        tags: ['ingest'],
        security: API_KEY_SECURITY,
      },
    },
    async (request, reply) =>
      workOnBody(request, async (clientGone) => {
        const format = otlpFormat(request.headers['content-type']);
        const name = request.keyName!;
        const tokenWal = wal.token(name);
        const { prepared, records } = await prepare(request, format, name, tokenWal, clientGone);
        if (prepared.accepted > 0) await tokenWal.append(prepared.batch);
        metrics.logsIngested.inc({ token: name }, prepared.accepted);
        if (prepared.rejected > 0) metrics.logsRejected.inc({ token: name, reason: PARTIAL_REJECTION }, prepared.rejected);
        const answer = exportAnswer(format, prepared.rejected, prepared.rejected > 0 ? partialSuccessMessage(prepared, records) : '');
        return reply.code(200).type(answer.contentType).send(answer.body);
      }),
  );
};
