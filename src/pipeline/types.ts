import type { AppendBatch } from '../wal/append-batch.js';
import type { WalRoom } from '../wal/types.js';

/** What the ingest path hands to the WAL: the batch, validated, masked and encoded. */
export interface PreparedBatch {
  /** The entries in request order, with their label sets once each (src/wal/append-batch.ts). */
  readonly batch: AppendBatch;
  readonly entries: number;
  /** Bytes of the encoded entries. */
  readonly bytes: number;
}

/** Ingest input, validated: the shape of one entry in `{"entries": [...]}`. */
export interface IngestEntry {
  timestamp: string;
  level: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
  message: string;
  service: string;
  env: string;
  metadata?: Record<string, unknown>;
}

/** One invalid entry of a rejected batch, as listed in the 400's `details`. */
export interface EntryProblem {
  /** Index of the entry in `entries`; -1 for a problem of the body as a whole. */
  readonly index: number;
  /** JSON pointer into the request body, e.g. `/entries/3/timestamp`. */
  readonly pointer: string;
  /** Why; never echoes the value (it may be a secret). */
  readonly reason: string;
}

export interface IngestPipeline {
  /**
   * Validates the whole body (all-or-nothing), masks it with the policy of key `keyName`, and
   * encodes every entry. Throws LogstackError VALIDATION_FAILED (details: EntryProblem[]) or
   * HTTP_TOO_MANY_ENTRIES. `nowMs` bounds the timestamp window. With `room`, the WAL's room
   * is checked before each entry is encoded: a batch it cannot take is refused with its error
   * (WAL_QUOTA_EXCEEDED, WAL_DISK_RESERVE, ...) before it is built. Requests are prepared one
   * at a time, in turns that give the event loop back (src/pipeline/cpu-turns.ts); one whose
   * `clientGone` is aborted by its turn is not prepared (rejects with the signal's reason).
   */
  prepare(keyName: string, body: unknown, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedBatch>;
}
