/**
 * The request bodies held in memory at once, across every connection, at most
 * `limits.max_body_bytes_in_flight`, and by the requests of one API key at most
 * `limits.max_body_bytes_in_flight_per_key`, so that one key's requests, however many, leave
 * the rest to the other keys. Each request counts what it holds as it arrives (as sent, once
 * decompressed, and its entries once decoded) and gives it all back when its answer is done: a
 * body that would go over the budget or its key's share is refused with 503 `server_busy` (a Loki
 * client retries it) instead of being read, and a request that would go over its key's share
 * alone with 413, which no retry would ever fit. Bytes a client has not sent cost nothing, so a
 * slow client that only announces a large body does not lock others out.
 */

/**
 * What a decoded entry holds until its request is answered, beyond its bytes in the body: its
 * objects and strings, and its WAL payload. Measured at 500-700 bytes for pushes of short lines
 * (100,000 entries of 2.1 MB decoded raised RSS by 68 MiB), where the body alone would count
 * 20 bytes an entry.
 */
export const HELD_ENTRY_BYTES = 512;

export interface BodyLease {
  /** Counts `bytes` more for this request; false, and nothing counted, when over the budget or the key's share. */
  take(bytes: number): boolean;
  /** Whether `bytes` more would fit now (nothing is counted). */
  fits(bytes: number): boolean;
  /** Bytes still free for this request: what the budget and its key's share have left. */
  readonly available: number;
  /** What this request could hold were it alone: its key's share, at most the whole budget. */
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
  /** Bytes held now by the requests of each key that holds any, by key name. */
  inFlightByKey(): ReadonlyMap<string, number>;
  /** A lease for one request of the API key named `key`. */
  lease(key: string): BodyLease;
}

export function createBodyBudget(maxBytes: number, maxBytesPerKey: number): BodyBudget {
  const share = Math.min(maxBytes, maxBytesPerKey);
  let inFlight = 0;
  // Only keys that hold bytes now: at most one entry per request in flight.
  const byKey = new Map<string, number>();
  const heldBy = (key: string): number => byKey.get(key) ?? 0;
  const count = (key: string, bytes: number): void => {
    inFlight += bytes;
    const held = heldBy(key) + bytes;
    if (held === 0) byKey.delete(key);
    else byKey.set(key, held);
  };
  const left = (key: string): number => Math.min(maxBytes - inFlight, share - heldBy(key));

  return {
    maxBytes,
    get inFlight() {
      return inFlight;
    },
    inFlightByKey() {
      return byKey;
    },
    lease(key) {
      let held = 0;
      let released = false;
      return {
        take(bytes) {
          if (released || bytes > left(key)) return false;
          count(key, bytes);
          held += bytes;
          return true;
        },
        fits(bytes) {
          return !released && bytes <= left(key);
        },
        get available() {
          return released ? 0 : left(key);
        },
        budgetBytes: share,
        get held() {
          return held;
        },
        give(bytes) {
          const given = Math.min(bytes, held);
          count(key, -given);
          held -= given;
        },
        release() {
          if (released) return;
          released = true;
          count(key, -held);
          held = 0;
        },
      };
    },
  };
}
