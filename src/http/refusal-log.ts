/**
 * The log lines of refused and unrouted requests, bounded (log-rate-limit.ts): anyone can send
 * requests without a token, and each would otherwise make LogStack write a line or two of its
 * own log. A request's lines are all written or all held back, so a written one tells its whole
 * story; what is held back is counted in one summary line every SUMMARY_INTERVAL_MS. Metrics
 * count every request regardless. Lines of accepted requests do not come here.
 */
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { LevelWithSilent, Logger } from 'pino';
import { createLogRateLimit, type LogRateLimitShape } from '../observability/log-rate-limit.js';

/**
 * Refused requests logged: 10 a second, 50 at once; at most two lines each (the refusal, and
 * `request completed`), so at most 20 lines a second, about 10 kB/s, whatever clients send.
 */
export const REFUSAL_LOG_SHAPE: LogRateLimitShape = { perSecond: 10, burst: 50 };
/** How often the lines held back are summed up in one line (ms). */
export const SUMMARY_INTERVAL_MS = 10_000;

/**
 * Statuses of requests refused before anything was taken: unauthenticated, forbidden, unrouted,
 * wrong method, too slow, too large, wrong type, over the rate limit, abandoned by their client,
 * busy or unavailable (a client sends as many of those as it likes, as fast as they are refused).
 */
export const REFUSED_STATUSES: ReadonlySet<number> = new Set([401, 403, 404, 405, 408, 413, 415, 429, 499, 503]);

type Level = Exclude<LevelWithSilent, 'silent'>;

export interface RefusalLog {
  /** Writes the line of a refused or unrouted request, unless that request's lines are held back. */
  write(request: FastifyRequest, level: Level, fields: object, message: string): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    refusalLog: RefusalLog;
  }
  interface FastifyRequest {
    /** Whether this request's refusal lines are written; null until its first one. */
    refusalLogged: boolean | null;
  }
}

export interface RefusalLogOptions {
  /** Milliseconds since the epoch. */
  clock: () => number;
}

export const refusalLogPlugin = fp<RefusalLogOptions>(
  async (app, { clock }) => {
    const limit = createLogRateLimit(REFUSAL_LOG_SHAPE, clock());
    const summarize = (): void => {
      const held = limit.report(clock());
      if (held === null) return;
      const seconds = Math.round(held.seconds);
      app.log.warn({ event: 'refusal_lines_suppressed', suppressed_lines: held.lines, seconds }, `suppressed ${held.lines} lines of refused requests in the last ${seconds} s`);
    };
    const timer = setInterval(summarize, SUMMARY_INTERVAL_MS);
    timer.unref();
    app.addHook('onClose', async () => {
      clearInterval(timer);
      summarize();
    });

    app.decorateRequest('refusalLogged', null);
    app.decorate('refusalLog', {
      write(request, level, fields, message) {
        // A line the level drops costs nothing, and takes nothing from the bucket.
        if (!(request.log as Logger).isLevelEnabled(level)) return;
        if (request.refusalLogged === null) request.refusalLogged = limit.admit(clock());
        else if (!request.refusalLogged) limit.suppress(1);
        if (request.refusalLogged) request.log[level](fields, message);
      },
    } satisfies RefusalLog);
  },
  { name: 'logstack-refusal-log', fastify: '5.x' },
);
