/** /v1/admin/*: the admin token only. Tokens appear by their NAME, never by their secret. */
import type { FastifyPluginAsync } from 'fastify';
import { logstackError } from '../errors.js';
import type { TokenWalStats, WalStore } from '../wal/types.js';
import { clientText } from './client-text.js';

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
  /** Seal active segments and deliver now; with `wait`, until delivered or `timeoutMs`. */
  flush(opts: { wait: boolean; timeoutMs: number }): Promise<{ complete: boolean; tokens: Record<string, unknown> }>;
  deadLetters(): Promise<Record<string, unknown>>;
  /** Requeue dead letters of one token (by name) or all; entries requeued per token. */
  replayDeadLetters(token?: string): Promise<Record<string, number>>;
}

/** How long `?wait=true` may hold a flush request by default, and at most (seconds). */
const FLUSH_WAIT_DEFAULT_SECONDS = 30;
const FLUSH_WAIT_MAX_SECONDS = 300;

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

  app.get('/v1/admin/status', async () => {
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
        querystring: {
          type: 'object',
          properties: {
            wait: { type: 'boolean', default: false },
            timeout_seconds: { type: 'number', exclusiveMinimum: 0, maximum: FLUSH_WAIT_MAX_SECONDS, default: FLUSH_WAIT_DEFAULT_SECONDS },
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const wait = request.query.wait ?? false;
      const report = await operations.flush({ wait, timeoutMs: (request.query.timeout_seconds ?? FLUSH_WAIT_DEFAULT_SECONDS) * 1000 });
      if (!wait) return reply.code(202).send({ flushing: true, ...report });
      if (!report.complete) throw logstackError('ADMIN_FLUSH_TIMEOUT', [request.query.timeout_seconds ?? FLUSH_WAIT_DEFAULT_SECONDS], { details: report.tokens });
      return report;
    },
  );

  app.get('/v1/admin/dead-letters', async () => ({ tokens: await operations.deadLetters() }));

  app.post<{ Querystring: { token?: string } }>(
    '/v1/admin/dead-letters::replay',
    { schema: { querystring: { type: 'object', properties: { token: { type: 'string', minLength: 1 } }, additionalProperties: false } } },
    async (request) => {
      const { token } = request.query;
      if (token !== undefined && !wal.tokens().some((t) => t.name === token)) {
        throw logstackError('HTTP_BAD_REQUEST', [`no token named ${clientText(token)}`]);
      }
      return { replayed: await operations.replayDeadLetters(token) };
    },
  );
};
