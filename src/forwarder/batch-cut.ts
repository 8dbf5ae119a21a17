/**
 * Cutting a batch out of what the WAL holds: bounded by entries and by the encoded size of
 * the push (Loki refuses a request over the tenant's burst, and gateways cap bodies), and held
 * back for `batch_max_wait_ms` while it is small, so a trickle is not sent one entry a push.
 */
import { createPushSizer, type ShippedEntry } from '../loki/push-request.js';

export interface BatchLimits {
  readonly maxEntries: number;
  /** Uncompressed protobuf bytes of the push. */
  readonly maxBytes: number;
  readonly maxWaitMs: number;
}

/** How many of `entries` go in the next push: at least one, even alone over the byte limit. */
export function cutBatch(entries: readonly ShippedEntry[], limits: Pick<BatchLimits, 'maxEntries' | 'maxBytes'>): { count: number; bytes: number } {
  const sizer = createPushSizer();
  for (const entry of entries) {
    if (sizer.entries >= limits.maxEntries || !sizer.addWithin(entry, limits.maxBytes)) break;
  }
  return { count: sizer.entries, bytes: sizer.bytes };
}

export interface HoldInput {
  readonly entries: number;
  readonly bytes: number;
  /** Append time of the oldest entry in the batch (ms). */
  readonly oldestAppendedAtMs: number;
  readonly nowMs: number;
  /** A flush was asked for: send what there is. */
  readonly flushing: boolean;
}

/** Ms to hold a partial batch for more entries; 0 means send now. */
export function holdMs(input: HoldInput, limits: BatchLimits): number {
  if (input.flushing || input.entries >= limits.maxEntries || input.bytes >= limits.maxBytes / 2) return 0;
  return Math.max(0, input.oldestAppendedAtMs + limits.maxWaitMs - input.nowMs);
}
