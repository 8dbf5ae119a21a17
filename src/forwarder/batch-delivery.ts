/**
 * One delivery step for one token: read what the WAL holds from a position (along a read plan),
 * cut a batch, hold it if it is small and young, else encode it and push it to Loki once. The
 * forwarder decides what the answer means (cursor, retry, split, dead letters); this is the
 * CPU-heavy part — CRC checks, protobuf, snappy, HTTP — and the part the delivery thread runs,
 * so that delivering a backlog never competes with ingest for the event loop.
 *
 * Everything here is data in, data out: requests and results cross a thread boundary.
 */
import type { Config } from '../config/schema.js';
import { encodePush, type ShippedEntry } from '../loki/push-request.js';
import { LabelSetReader } from '../wal/label-sets.js';
import { openForOneRead, readRecords } from '../wal/segment-reader.js';
import type { DamageNote, ReadPlan, WalPosition } from '../wal/types.js';
import { cutBatch, holdMs } from './batch-cut.js';
import type { LokiClient } from './loki-client.js';
import type { PushAttempt } from './push-outcome.js';

export interface DeliveryRequest {
  readonly plan: ReadPlan;
  /** The token's Loki tenant; undefined: the client's default. */
  readonly tenant: string | undefined;
  readonly maxEntries: number;
  /** Encoded bytes per push (`loki.batch_max_bytes`, as the forwarder has it now). */
  readonly maxBytes: number;
  /** How long a partial batch waits for more entries (`loki.batch_max_wait_ms`, ms). */
  readonly maxWaitMs: number;
  /** A flush or shutdown asked for everything: a partial batch is not held. */
  readonly flushing: boolean;
  /** The forwarder's clock, against which a partial batch's age is measured (ms). */
  readonly nowMs: number;
}

export type DeliveryResult =
  /**
   * Nothing to send up to the durable end; `next` is past any damage that was skipped, and
   * every entry up to `coveredSeq` was delivered before or is lost.
   */
  | { readonly kind: 'idle'; readonly next: WalPosition; readonly coveredSeq: number | null; readonly damage: DamageNote[] }
  /** A partial batch waits for more entries this long. */
  | { readonly kind: 'hold'; readonly holdMs: number; readonly damage: DamageNote[] }
  | {
      readonly kind: 'pushed';
      readonly attempt: PushAttempt;
      readonly entries: number;
      readonly bodyBytes: number;
      readonly payloadBytes: number;
      /** Every entry up to this seq is in the batch, was delivered before, or is lost; and the position just after the batch. */
      readonly lastSeq: number;
      readonly next: WalPosition;
      /** When each entry sent was appended (ms), for the delivery latency. */
      readonly appendedAtMs: Float64Array;
      /** The entries, when Loki refused them for good: they go to the dead-letter store. */
      readonly refused?: ShippedEntry[];
      readonly damage: DamageNote[];
    };

export type PushedBatch = Extract<DeliveryResult, { kind: 'pushed' }>;

export interface BatchDelivery {
  deliver(request: DeliveryRequest): Promise<DeliveryResult>;
  /** Waits for pushes in flight, then releases the connections. Once. */
  close(): Promise<void>;
}

export interface BatchDeliveryOptions {
  readonly client: Pick<LokiClient, 'push' | 'close'>;
  readonly loki: Pick<Config['loki'], 'encoding'>;
}

export function createBatchDelivery({ client, loki }: BatchDeliveryOptions): BatchDelivery {
  // Label sets read for one batch serve the next ones: a stream's label set is read once.
  const labelSets = new LabelSetReader();
  return {
    async deliver(req) {
      const read = await readRecords(req.plan, { maxRecords: req.maxEntries, maxBytes: req.maxBytes }, openForOneRead(req.plan.dir), labelSets);
      const { damage, records } = read;
      if (records.length === 0) return { kind: 'idle', next: read.next, coveredSeq: read.coveredSeq, damage };
      const { count, bytes } = cutBatch(records, { maxEntries: req.maxEntries, maxBytes: req.maxBytes });
      const hold = holdMs(
        { entries: count, bytes, oldestAppendedAtMs: records[0]!.appendedAtMs, nowMs: req.nowMs, flushing: req.flushing },
        { maxEntries: req.maxEntries, maxBytes: req.maxBytes, maxWaitMs: req.maxWaitMs },
      );
      if (hold > 0) return { kind: 'hold', holdMs: hold, damage };

      const batch = count === records.length ? records : records.slice(0, count);
      const encoded = await encodePush(batch, loki.encoding);
      const attempt = await client.push(encoded.body, encoded.headers, req.tenant);
      const last = batch[count - 1]!;
      const appendedAtMs = new Float64Array(count);
      let payloadBytes = 0;
      for (let i = 0; i < count; i++) {
        appendedAtMs[i] = batch[i]!.appendedAtMs;
        payloadBytes += batch[i]!.entry.length;
      }
      const { kind } = attempt.outcome;
      const refused = kind === 'rejected' || (kind === 'split' && count === 1);
      // The whole read went in: what it stepped over after the last entry goes with it.
      const whole = count === records.length;
      return {
        kind: 'pushed',
        attempt,
        entries: count,
        bodyBytes: encoded.body.length,
        payloadBytes,
        lastSeq: whole ? Math.max(last.seq, read.coveredSeq ?? 0) : last.seq,
        next: whole ? read.next : last.next,
        appendedAtMs,
        ...(refused ? { refused: batch.map(({ labels, entry }) => ({ labels, entry })) } : {}),
        damage,
      };
    },
    close: () => client.close(),
  };
}
