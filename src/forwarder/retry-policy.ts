/**
 * How a push's answer is classified: pure functions of the status, Loki's message and the
 * `Retry-After` header, so the decision is tested apart from the transport that gets them.
 */
import type { PushOutcome } from './push-outcome.js';

/**
 * Longest `Retry-After` honoured (ms). A gateway's bogus hour-long value must not stall a
 * token's delivery that long; past this the backoff takes over again.
 */
export const MAX_RETRY_AFTER_MS = 300_000;

const DELTA_SECONDS = /^\d+$/;
/** IMF-fixdate, RFC 850 and asctime all start with the day name; Date.parse alone takes "1.5". */
const HTTP_DATE = /^[A-Za-z]{3}/;

/**
 * `Retry-After` (RFC 9110 §10.2.3) as a delay from `nowMs`: delta-seconds or an HTTP-date.
 * Undefined when absent or unparseable; a date in the past is 0; capped at `capMs`.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number, capMs = MAX_RETRY_AFTER_MS): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  let delayMs: number;
  if (DELTA_SECONDS.test(value)) {
    delayMs = Number(value) * 1000;
  } else {
    const at = HTTP_DATE.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(at)) return undefined;
    delayMs = Math.max(0, at - nowMs);
  }
  return Math.min(delayMs, capMs);
}

/**
 * Statuses that say the request reached the wrong place or was not allowed: sending the same
 * data again after an operator fixes `loki.*` will work, so the data is kept, not dead-lettered.
 * 405 and 3xx come from a `base_url` that points at something other than Loki's push path
 * (a query frontend, an http→https redirect; undici does not follow redirects).
 */
const MISCONFIGURED = new Set([401, 403, 404, 405, 407]);

export interface PushAnswer {
  readonly status: number;
  /** Loki's response body, already bounded (Loki answers errors as `text/plain`). */
  readonly message: string;
  readonly retryAfter?: string | undefined;
}

export function classifyAnswer(answer: PushAnswer, nowMs: number): PushOutcome {
  const { status, message } = answer;
  if (status === 200 || status === 204) return { kind: 'success', status };
  const retryable = (reason: 'rate_limited' | 'server_error' | 'unexpected_status'): PushOutcome => {
    const retryAfterMs = parseRetryAfter(answer.retryAfter, nowMs);
    return retryAfterMs === undefined
      ? { kind: 'retryable', reason, status, message }
      : { kind: 'retryable', reason, status, message, retryAfterMs };
  };
  if (status >= 200 && status < 300) return retryable('unexpected_status');
  if (status === 429) return retryable('rate_limited');
  if (status === 408 || (status >= 500 && status < 600)) return retryable('server_error');
  if (status === 413) return { kind: 'split', status, message };
  if (MISCONFIGURED.has(status) || (status >= 300 && status < 400)) return { kind: 'misconfigured', status, message };
  if (status >= 400 && status < 500) return { kind: 'rejected', status, message };
  return retryable('unexpected_status');
}

/** A push that got no complete HTTP answer: always worth another try. */
export function classifyTransportFailure(timedOut: boolean, message: string): PushOutcome {
  return { kind: 'retryable', reason: timedOut ? 'timeout' : 'network', status: null, message };
}
