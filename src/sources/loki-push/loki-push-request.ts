/**
 * A Loki push request as LogStack reads it, whatever it came as (protobuf, JSON, the legacy
 * JSON of `/api/prom/push`): streams of entries with exact nanosecond timestamps. Validation,
 * masking and the WAL payloads work on this form only.
 */
import type { LabelPairs } from '../../loki/entry.js';
import type { PreparedBatch } from '../../pipeline/types.js';
import type { WalRoom } from '../../wal/types.js';

export interface PushEntry {
  /** Whole seconds since the Unix epoch. */
  readonly seconds: number;
  /** Nanoseconds within the second; a protobuf push may carry an out-of-range value, refused later. */
  readonly nanos: number;
  readonly line: string;
  /** At most the bound + 1 pairs (PushBounds): an entry with more is refused for its count. */
  readonly structuredMetadata: LabelPairs;
  /** Pairs as sent, when more than `structuredMetadata` kept. */
  readonly structuredMetadataCount?: number;
}

export interface PushStream {
  /** The label set as Prometheus text (`{app="shop", env="prod"}`: protobuf, legacy JSON) or as pairs (JSON). */
  readonly labels: string | LabelPairs;
  readonly entries: readonly PushEntry[];
}

export interface LokiPushRequest {
  readonly streams: readonly PushStream[];
  /** Entries of all streams. */
  readonly entries: number;
}

/** One reason a push is refused, as listed in the 400's `details`; never quotes a value. */
export interface PushProblem {
  /** Index of the stream in the request. */
  readonly stream: number;
  /** Index of the entry in its stream; absent when the stream's labels are the problem. */
  readonly entry?: number;
  readonly reason: string;
}

export interface LokiPushPipeline {
  /** Structured metadata pairs an entry may have (`limits.max_metadata_keys`), for the decoder's bound. */
  readonly maxMetadataPairs: number;
  /**
   * Validates the whole push against Loki's limits (all-or-nothing), masks labels, lines and
   * structured metadata with the policy of key `keyName`, and encodes one WAL payload per entry,
   * in request order. Throws LogstackError LOKI_PUSH_INVALID (details: PushProblem[]).
   * `nowMs` bounds the timestamp window. With `room`, the WAL's room is checked before each
   * entry is encoded (see IngestPipeline.prepare). One request at a time, in turns, unless
   * `clientGone` is aborted by its turn.
   */
  prepare(keyName: string, push: LokiPushRequest, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedBatch>;
}
