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
import { encodePush } from '../loki/push-request.js';
import { readRecords } from '../wal/segment-reader.js';
import type { CorruptNote, ReadPlan, WalPosition } from '../wal/types.js';
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
  /** Nothing to send up to the durable end; `next` is past any damage that was skipped. */
  | { readonly kind: 'idle'; readonly next: WalPosition; readonly corruptNotes: CorruptNote[] }
  /** A partial batch waits for more entries this long. */
  | { readonly kind: 'hold'; readonly holdMs: number; readonly corruptNotes: CorruptNote[] }
  | {
      readonly kind: 'pushed';
      readonly attempt: PushAttempt;
      readonly entries: number;
      readonly bodyBytes: number;
      readonly payloadBytes: number;
      /** seq of the last entry sent, and the position just after it. */
      readonly lastSeq: number;
      readonly next: WalPosition;
      /** When each entry sent was appended (ms), for the delivery latency. */
      readonly appendedAtMs: Float64Array;
      /** The payloads, when Loki refused them for good: they go to the dead-letter store. */
      readonly refused?: Buffer[];
      readonly corruptNotes: CorruptNote[];
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
  return {
    async deliver(req) {
      const read = await readRecords(req.plan, { maxRecords: req.maxEntries, maxBytes: req.maxBytes });
      const { corruptNotes } = read;
      if (read.records.length === 0) return { kind: 'idle', next: read.next, corruptNotes };
      const payloads = read.records.map((r) => r.payload);
      const { count, bytes } = cutBatch(payloads, { maxEntries: req.maxEntries, maxBytes: req.maxBytes });
      const hold = holdMs(
        { entries: count, bytes, oldestAppendedAtMs: read.records[0]!.appendedAtMs, nowMs: req.nowMs, flushing: req.flushing },
        { maxEntries: req.maxEntries, maxBytes: req.maxBytes, maxWaitMs: req.maxWaitMs },
      );
      if (hold > 0) return { kind: 'hold', holdMs: hold, corruptNotes };

      const batch = payloads.slice(0, count);
      const encoded = await encodePush(batch, loki.encoding);
      const attempt = await client.push(encoded.body, encoded.headers, req.tenant);
      const last = read.records[count - 1]!;
      const appendedAtMs = new Float64Array(count);
      let payloadBytes = 0;
      for (let i = 0; i < count; i++) {
        appendedAtMs[i] = read.records[i]!.appendedAtMs;
        payloadBytes += batch[i]!.length;
      }
      const { kind } = attempt.outcome;
      const refused = kind === 'rejected' || (kind === 'split' && count === 1);
      return {
        kind: 'pushed',
        attempt,
        entries: count,
        bodyBytes: encoded.body.length,
        payloadBytes,
        lastSeq: last.seq,
        next: last.next,
        appendedAtMs,
        ...(refused ? { refused: batch } : {}),
        corruptNotes,
      };
    },
    close: () => client.close(),
  };
}
