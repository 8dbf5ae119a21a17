/** /v1/admin/*: the admin token only. Tokens appear by their NAME, never by their secret. */
import type { FastifyPluginAsync } from 'fastify';
import { logstackError } from '../errors.js';
import type { TokenWalStats, WalStore } from '../wal/types.js';
import { clientText } from './client-text.js';
import { ADMIN_SECURITY, errorResponses } from './openapi.js';

/** What other components add to the status, e.g. the forwarder's state and per-token push results. */
export interface StatusExtension {
  /** Top-level fields. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** Per key name, merged into that token's entry. */
  readonly tokens?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export type AdminStatus = () => StatusExtension | Promise<StatusExtension>;

/** What the forwarder does for operators. */
export interface AdminOperations {
  /** Seal active segments and deliver now; with `wait`, until delivered, `timeoutMs`, or `signal` aborts. */
  flush(opts: { wait: boolean; timeoutMs: number; signal?: AbortSignal }): Promise<{ complete: boolean; tokens: Record<string, unknown> }>;
  deadLetters(): Promise<Record<string, unknown>>;
  /** Requeue dead letters of one token (by name) or all; entries requeued per token. */
  replayDeadLetters(token?: string): Promise<Record<string, number>>;
}

/** How long `?wait=true` may hold a flush request by default, and at most (seconds). */
const FLUSH_WAIT_DEFAULT_SECONDS = 30;
const FLUSH_WAIT_MAX_SECONDS = 300;

/**
 * The wait of a flush in ms, or a 400. The schema's `maximum` is not enough: the query string's
 * `Infinity` and `1e400` are coerced to Infinity, which passes it.
 */
export function flushWaitMs(timeoutSeconds: number = FLUSH_WAIT_DEFAULT_SECONDS): number {
  if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 && timeoutSeconds <= FLUSH_WAIT_MAX_SECONDS) return timeoutSeconds * 1000;
  throw logstackError('HTTP_BAD_REQUEST', [`timeout_seconds must be a number of seconds over 0 and at most ${FLUSH_WAIT_MAX_SECONDS}`]);
}

const adminErrors = {
  401: '`unauthorized`: no admin token, a wrong one, or none is configured (security.admin_token)',
  403: '`forbidden`: an API key, not the admin token',
};

/** Per token name; what each holds is open to the components that report it. */
const byToken = { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } } as const;

const flushReport = {
  complete: { type: 'boolean', description: 'Everything appended before the call is delivered' },
  tokens: { ...byToken, description: 'Progress per token' },
} as const;

const statusSchema = {
  summary: 'Version, uptime, the WAL and delivery of every token, by name',
  tags: ['admin'],
  security: ADMIN_SECURITY,
  response: {
    200: {
      type: 'object',
      description: 'Other components add fields, e.g. `forwarder` and `loki`',
      properties: {
        service: { type: 'string' },
        version: { type: 'string' },
        uptime_seconds: { type: 'integer' },
        wal: { type: 'object', additionalProperties: true },
        tokens: byToken,
      },
      additionalProperties: true,
    },
    ...errorResponses(adminErrors),
  },
};

export interface AdminRoutesOptions {
  version: string;
  wal: WalStore;
  clock: () => number;
  startedAtMs: number;
  adminStatus?: AdminStatus;
  operations?: AdminOperations;
}

function tokenStatus(stats: TokenWalStats, nowMs: number): Record<string, unknown> {
  return {
    segments: stats.segments,
    disk_bytes: stats.diskBytes,
    quota_bytes: stats.quotaBytes,
    pending_entries: stats.pendingEntries,
    pending_bytes: stats.pendingBytes,
    oldest_pending_age_seconds: stats.oldestPendingAppendedAtMs === null ? null : Math.max(0, (nowMs - stats.oldestPendingAppendedAtMs) / 1000),
    last_seq: stats.lastSeq,
    acked_seq: stats.ackedSeq,
    corrupt_records: stats.corruptRecords,
    failed: stats.failed,
  };
}

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, { version, wal, clock, startedAtMs, adminStatus, operations }) => {
  app.addHook('onRequest', app.requireAdmin);

  app.get('/v1/admin/status', { schema: statusSchema }, async () => {
    const nowMs = clock();
    const extension = (await adminStatus?.()) ?? {};
    const tokens: Record<string, Record<string, unknown>> = {};
    for (const token of wal.tokens()) {
      const stats = token.stats();
      tokens[stats.name] = { ...tokenStatus(stats, nowMs), ...extension.tokens?.[stats.name] };
    }
    return {
      service: 'logstack',
      version,
      uptime_seconds: Math.max(0, Math.floor((nowMs - startedAtMs) / 1000)),
      wal: { state: wal.state, disk: wal.state === 'open' ? wal.disk() : null },
      tokens,
      ...extension.fields,
    };
  });

  if (!operations) return;

  app.post<{ Querystring: { wait?: boolean; timeout_seconds?: number } }>(
    '/v1/admin/flush',
    {
      schema: {
        summary: 'Seal the active segments and deliver now',
        tags: ['admin'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          properties: {
            wait: { type: 'boolean', default: false, description: 'Answer once delivered (200) or out of time (504), instead of at once (202)' },
            timeout_seconds: {
              type: 'number',
              exclusiveMinimum: 0,
              maximum: FLUSH_WAIT_MAX_SECONDS,
              default: FLUSH_WAIT_DEFAULT_SECONDS,
              description: 'How long `wait=true` may hold the request',
            },
          },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', description: 'Delivered', properties: flushReport, required: ['complete', 'tokens'] },
          202: {
            type: 'object',
            description: 'Flushing; `wait` was not asked',
            properties: { flushing: { type: 'boolean' }, ...flushReport },
            required: ['flushing', 'complete', 'tokens'],
          },
          ...errorResponses({
            400: '`bad_request`: a query parameter out of its range',
            ...adminErrors,
            504: '`flush_timeout`: not delivered within `timeout_seconds`; `details` has each token\'s progress',
          }),
        },
      },
    },
    async (request, reply) => {
      const wait = request.query.wait ?? false;
      const timeoutMs = flushWaitMs(request.query.timeout_seconds);
      // A client that goes away stops the wait: nobody is left to answer.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.once('close', onClose);
      const report = await operations.flush({ wait, timeoutMs, signal: gone.signal });
      if (!wait) return reply.code(202).send({ flushing: true, ...report });
      if (!report.complete) throw logstackError('ADMIN_FLUSH_TIMEOUT', [request.query.timeout_seconds ?? FLUSH_WAIT_DEFAULT_SECONDS], { details: report.tokens });
      return report;
    },
  );

  app.get(
    '/v1/admin/dead-letters',
    {
      schema: {
        summary: 'Entries Loki refused for good, per token, with the reasons',
        tags: ['admin'],
        security: ADMIN_SECURITY,
        response: {
          200: { type: 'object', description: 'Count, reasons and the newest samples, per token', properties: { tokens: byToken }, required: ['tokens'] },
          ...errorResponses(adminErrors),
        },
      },
    },
    async () => ({ tokens: await operations.deadLetters() }),
  );

  app.post<{ Querystring: { token?: string } }>(
    '/v1/admin/dead-letters::replay',
    {
      schema: {
        summary: 'Requeue dead letters into the WAL, of one token or all',
        tags: ['admin'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          properties: { token: { type: 'string', minLength: 1, description: 'The name of a key; all tokens when absent' } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            description: 'Requeued; delivered like any entry',
            properties: { replayed: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Entries requeued, per token' } },
            required: ['replayed'],
          },
          ...errorResponses({ 400: '`bad_request`: no token of that name', ...adminErrors }),
        },
      },
    },
    async (request) => {
      const { token } = request.query;
      if (token !== undefined && !wal.tokens().some((t) => t.name === token)) {
        throw logstackError('HTTP_BAD_REQUEST', [`no token named ${clientText(token)}`]);
      }
      return { replayed: await operations.replayDeadLetters(token) };
    },
  );
};
