/**
 * What one push to Loki came to, as data: the forwarder moves a token's cursor only on
 * `success`, and every other answer tells it what to do with the batch instead.
 */

/** Why a push may succeed if sent again, as-is, later. */
export type RetryReason =
  /** Connection refused or reset, DNS failure, TLS failure: Loki was not reached or hung up. */
  | 'network'
  /** No complete answer within `loki.timeout_seconds`. */
  | 'timeout'
  /** 429: the tenant is over its ingestion rate or stream limits. */
  | 'rate_limited'
  /** 5xx (and 408): Loki or its gateway failed. */
  | 'server_error'
  /** A 2xx that is neither 200 nor 204: not an acknowledgement we can trust. */
  | 'unexpected_status';

export type PushOutcome =
  /** Loki has the batch: advance the cursor. */
  | { readonly kind: 'success'; readonly status: number }
  /** Keep the batch and push it again after a backoff (honouring `retryAfterMs`). Never dropped. */
  | {
      readonly kind: 'retryable';
      readonly reason: RetryReason;
      /** Null when no HTTP answer came. */
      readonly status: number | null;
      readonly message: string;
      readonly retryAfterMs?: number;
    }
  /** 413: halve the batch and push the halves in order. */
  | { readonly kind: 'split'; readonly status: number; readonly message: string }
  /** Loki refuses the data itself (400, most 4xx): dead-letter the batch with the message, go on. */
  | { readonly kind: 'rejected'; readonly status: number; readonly message: string }
  /** Loki refuses us, not the data (401, 403, 404, ...): pause the token and keep its data. */
  | { readonly kind: 'misconfigured'; readonly status: number; readonly message: string };

export type PushOutcomeKind = PushOutcome['kind'];

export interface PushAttempt {
  readonly outcome: PushOutcome;
  /** From sending the request to the end of the answer (or the failure), ms. */
  readonly latencyMs: number;
}
