/**
 * When to push again after a retryable failure: capped exponential backoff with full jitter,
 * in two phases. A batch is never dropped for having failed too often.
 *
 *   fast  (failures 1..max_retries): uniform in [0, min(max, initial · 2^(failures−1)))
 *         — full jitter, so tokens failing together spread out instead of retrying in step;
 *   slow  (after that): uniform in [max/2, max) — the token is reported failing and keeps
 *         trying at about the cap, with enough jitter to stay out of step.
 *
 * A `Retry-After` from Loki or its gateway is a floor: delay = max(Retry-After, backoff). It may
 * exceed the cap (the server knows when it will take data again; earlier only earns another
 * 429), bounded by `MAX_RETRY_AFTER_MS` when the header is parsed.
 */

export interface BackoffPolicy {
  /** First retry's ceiling (ms): `loki.backoff_initial_ms`. */
  readonly initialMs: number;
  /** Cap (ms): `loki.backoff_max_ms`. */
  readonly maxMs: number;
  /** Fast retries before the slow phase: `loki.max_retries`. */
  readonly maxRetries: number;
}

export interface RetryDelay {
  readonly delayMs: number;
  /** `slow` once `maxRetries` fast retries have failed: report the token as failing. */
  readonly phase: 'fast' | 'slow';
}

/**
 * @param failures consecutive failed attempts of the same batch, ≥ 1
 * @param random uniform in [0, 1), injected so tests choose the jitter
 * @param retryAfterMs the server's `Retry-After`, already parsed and capped
 */
export function retryDelay(failures: number, policy: BackoffPolicy, random: () => number, retryAfterMs?: number): RetryDelay {
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`backoff: failures must be an integer ≥ 1, got ${failures}`);
  const phase = failures <= policy.maxRetries ? 'fast' : 'slow';
  const jittered =
    phase === 'fast'
      ? random() * Math.min(policy.maxMs, policy.initialMs * 2 ** (failures - 1))
      : policy.maxMs * (0.5 + random() / 2);
  return { delayMs: Math.floor(Math.max(retryAfterMs ?? 0, jittered)), phase };
}
