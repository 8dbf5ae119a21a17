/**
 * The request bodies held in memory at once, across every connection, at most
 * `limits.max_body_bytes_in_flight`. Each request counts what it holds as it arrives (as sent,
 * once decompressed, and its entries once decoded) and gives it all back when its answer is
 * done: a body that would go over the budget is refused with 503 `server_busy` (a Loki client
 * retries it) instead of being read, and a request that would go over it alone with 413, which
 * no retry would ever fit. Bytes a client has not sent cost nothing, so a slow client
 * that only announces a large body does not lock others out.
 */

/**
 * What a decoded entry holds until its request is answered, beyond its bytes in the body: its
 * objects and strings, and its WAL payload. Measured at 500-700 bytes for pushes of short lines
 * (100,000 entries of 2.1 MB decoded raised RSS by 68 MiB), where the body alone would count
 * 20 bytes an entry.
 */
export const HELD_ENTRY_BYTES = 512;

export interface BodyLease {
  /** Counts `bytes` more for this request; false, and nothing counted, when over the budget. */
  take(bytes: number): boolean;
  /** Whether `bytes` more would fit now (nothing is counted). */
  fits(bytes: number): boolean;
  /** Bytes still free for this request: what the budget has left. */
  readonly available: number;
  /** The whole budget: what this request could hold were it alone. */
  readonly budgetBytes: number;
  /** Bytes this request holds. */
  readonly held: number;
  /** Gives back `bytes` of what this request holds (at most all of it), once what they counted is unreachable. */
  give(bytes: number): void;
  /** Gives back everything this request took; idempotent. */
  release(): void;
}

export interface BodyBudget {
  readonly maxBytes: number;
  /** Bytes held by requests now. */
  readonly inFlight: number;
  lease(): BodyLease;
}

export function createBodyBudget(maxBytes: number): BodyBudget {
  let inFlight = 0;
  return {
    maxBytes,
    get inFlight() {
      return inFlight;
    },
    lease() {
      let held = 0;
      let released = false;
      return {
        take(bytes) {
          if (released || inFlight + bytes > maxBytes) return false;
          inFlight += bytes;
          held += bytes;
          return true;
        },
        fits(bytes) {
          return !released && inFlight + bytes <= maxBytes;
        },
        get available() {
          return released ? 0 : maxBytes - inFlight;
        },
        budgetBytes: maxBytes,
        get held() {
          return held;
        },
        give(bytes) {
          const given = Math.min(bytes, held);
          inFlight -= given;
          held -= given;
        },
        release() {
          if (released) return;
          released = true;
          inFlight -= held;
          held = 0;
        },
      };
    },
  };
}
