/**
 * Per-key rate limit: a token bucket of `rate_limit_burst` requests refilled at `rate_limit_rps`,
 * keyed by the key's NAME. rate-limiter-flexible 11 has no token bucket; its BurstyRateLimiter
 * (a fixed window at the sustained rate plus a burst allowance that refills in one window)
 * approximates one: a full bucket passes `burst` at once, then `rps` per second.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { clientAddress } from './client-address.js';
import { routeLabel } from './route-label.js';

export interface LimiterWindow {
  readonly points: number;
  /** Seconds; fractional allowed. */
  readonly duration: number;
}

export interface BucketShape {
  readonly sustained: LimiterWindow;
  /** Requests allowed on top of the sustained window; null when the burst adds nothing. */
  readonly burst: LimiterWindow | null;
}

/** The two windows that approximate a token bucket of `burst` refilled at `rps` per second. */
export function bucketShape(rps: number, burst: number): BucketShape {
  // Whole points per window: the limiter compares counts of requests with `points`.
  const points = Math.max(1, Math.floor(rps));
  const extra = burst - points;
  return {
    sustained: { points, duration: points / rps },
    // An empty bucket takes burst / rps seconds to fill up again.
    burst: extra > 0 ? { points: extra, duration: burst / rps } : null,
  };
}

/** `Retry-After` in whole seconds, at least 1 (0 would invite an immediate retry). */
export function retryAfterSeconds(msBeforeNext: number): number {
  return Math.max(1, Math.ceil(msBeforeNext / 1000));
}

interface Limiter {
  consume(key: string): Promise<unknown>;
}

export interface RateLimits {
  /** Takes one request from the bucket of key `name`: null when allowed, else seconds to wait. */
  take(name: string): Promise<number | null>;
  /**
   * The limits of a reloaded configuration. A key whose rate and burst did not change keeps its
   * bucket as it is, so a reload neither refills nor empties it.
   */
  apply(security: Config['security']): void;
}

interface Bucket {
  readonly rps: number;
  readonly burst: number;
  readonly limiter: Limiter;
}

function limiterFor(rps: number, burst: number): Limiter {
  const shape = bucketShape(rps, burst);
  const sustained = new RateLimiterMemory({ keyPrefix: 'sustained', ...shape.sustained });
  return shape.burst === null ? sustained : new BurstyRateLimiter(sustained, new RateLimiterMemory({ keyPrefix: 'burst', ...shape.burst }));
}

export function createRateLimits(initial: Config['security']): RateLimits {
  let security = initial;
  let buckets = new Map<string, Bucket>();

  const bucket = (rps: number, burst: number, old: Bucket | undefined): Bucket =>
    old !== undefined && old.rps === rps && old.burst === burst ? old : { rps, burst, limiter: limiterFor(rps, burst) };

  const configure = (next: Config['security']) => {
    const previous = buckets;
    buckets = new Map();
    // Keys sharing a name share a bucket; the configuration makes sure they agree on its shape.
    for (const key of Object.values(next.api_keys)) {
      if (buckets.has(key.name)) continue;
      buckets.set(key.name, bucket(key.rate_limit_rps ?? next.rate_limit_rps, key.rate_limit_burst ?? next.rate_limit_burst, previous.get(key.name)));
    }
    security = next;
  };
  configure(initial);

  return {
    apply: configure,
    async take(name) {
      let found = buckets.get(name);
      if (found === undefined) {
        // A key removed by a reload while its request was in flight: the global limits.
        found = bucket(security.rate_limit_rps, security.rate_limit_burst, undefined);
        buckets.set(name, found);
      }
      try {
        await found.limiter.consume(name);
        return null;
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return retryAfterSeconds(rejection.msBeforeNext);
        throw rejection;
      }
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook, after `requireApiKey`: 429 once the key's bucket is empty. */
    enforceRateLimit: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

export interface RateLimitOptions {
  limits: RateLimits;
  metrics: Metrics;
}

export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, { limits, metrics }) => {
    app.decorate('enforceRateLimit', async (request: FastifyRequest) => {
      const name = request.keyName;
      if (name === null) throw new TypeError('enforceRateLimit runs after requireApiKey');
      const wait = await limits.take(name);
      if (wait === null) return;
      metrics.rateLimitExceeded.inc({ token: name });
      app.refusalLog.write(
        request,
        'warn',
        { event: 'rate_limited', status: 429, route: routeLabel(request), client: clientAddress(request.ip), token_name: name, retry_after_seconds: wait },
        'rate limit exceeded',
      );
      throw logstackError('HTTP_RATE_LIMITED', [name, wait], { retryAfterSeconds: wait });
    });
  },
  { name: 'logstack-rate-limit', fastify: '5.x', dependencies: ['logstack-auth', 'logstack-refusal-log'] },
);
