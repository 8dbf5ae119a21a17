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
import { encodePush, type EncodedPush } from '../loki/push-request.js';
import { readRecords } from '../wal/segment-reader.js';
import type { CorruptNote, ReadPlan, WalPosition, WalRecord } from '../wal/types.js';
import { cutBatch, holdMs } from './batch-cut.js';
import type { LokiClient } from './loki-client.js';
import type { PushAttempt } from './push-outcome.js';

export interface DeliveryRequest {
  readonly plan: ReadPlan;
  /** The token's Loki tenant; undefined: the client's default. */
  readonly tenant: string | undefined;
  readonly maxEntries: number;
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
  readonly loki: Pick<Config['loki'], 'batch_max_bytes' | 'batch_max_wait_ms' | 'encoding'>;
}

/**
 * A batch's payloads held through its push, for the dead-letter store should Loki refuse
 * them: as spans of the buffers they were read into, not as the records and views they were
 * read as. A push outlasts several of the thread's young-generation collections, so whatever
 * it holds is promoted: held as records, that was ~25 MB/s of old-generation garbage at
 * 50,000 entries/s.
 */
function holdPayloads(payloads: readonly Buffer[]): () => Buffer[] {
  const count = payloads.length;
  const buffers: ArrayBufferLike[] = [];
  const spans = new Float64Array(count * 3);
  for (let i = 0; i < count; i++) {
    const payload = payloads[i]!;
    if (buffers[buffers.length - 1] !== payload.buffer) buffers.push(payload.buffer);
    spans[3 * i] = buffers.length - 1;
    spans[3 * i + 1] = payload.byteOffset;
    spans[3 * i + 2] = payload.length;
  }
  return () => Array.from({ length: count }, (_, i) => Buffer.from(buffers[spans[3 * i]!]!, spans[3 * i + 1], spans[3 * i + 2]));
}

/** What a push needs to report once Loki answers; nothing that holds the records read. */
interface Shipment {
  readonly entries: number;
  readonly payloadBytes: number;
  readonly lastSeq: number;
  readonly next: WalPosition;
  readonly appendedAtMs: Float64Array;
  readonly payloads: () => Buffer[];
  readonly corruptNotes: CorruptNote[];
}

function ship(records: readonly WalRecord[], payloads: readonly Buffer[], corruptNotes: CorruptNote[]): Shipment {
  const count = payloads.length;
  const appendedAtMs = new Float64Array(count);
  let payloadBytes = 0;
  for (let i = 0; i < count; i++) {
    appendedAtMs[i] = records[i]!.appendedAtMs;
    payloadBytes += payloads[i]!.length;
  }
  const last = records[count - 1]!;
  return { entries: count, payloadBytes, lastSeq: last.seq, next: last.next, appendedAtMs, payloads: holdPayloads(payloads), corruptNotes };
}

async function push(client: BatchDeliveryOptions['client'], tenant: string | undefined, encoded: EncodedPush, shipment: Shipment): Promise<PushedBatch> {
  const attempt = await client.push(encoded.body, encoded.headers, tenant);
  const { kind } = attempt.outcome;
  const refused = kind === 'rejected' || (kind === 'split' && shipment.entries === 1);
  const { payloads, ...shipped } = shipment;
  return { kind: 'pushed', attempt, bodyBytes: encoded.body.length, ...shipped, ...(refused ? { refused: payloads() } : {}) };
}

export function createBatchDelivery({ client, loki }: BatchDeliveryOptions): BatchDelivery {
  return {
    async deliver(req) {
      const read = await readRecords(req.plan, { maxRecords: req.maxEntries, maxBytes: loki.batch_max_bytes });
      const { corruptNotes } = read;
      if (read.records.length === 0) return { kind: 'idle', next: read.next, corruptNotes };
      const payloads = read.records.map((r) => r.payload);
      const { count, bytes } = cutBatch(payloads, { maxEntries: req.maxEntries, maxBytes: loki.batch_max_bytes });
      const hold = holdMs(
        { entries: count, bytes, oldestAppendedAtMs: read.records[0]!.appendedAtMs, nowMs: req.nowMs, flushing: req.flushing },
        { maxEntries: req.maxEntries, maxBytes: loki.batch_max_bytes, maxWaitMs: loki.batch_max_wait_ms },
      );
      if (hold > 0) return { kind: 'hold', holdMs: hold, corruptNotes };

      const batch = payloads.slice(0, count);
      const encoded = await encodePush(batch, loki.encoding);
      // Returned, not awaited: the records read are garbage while the push waits for Loki.
      return push(client, req.tenant, encoded, ship(read.records, batch, corruptNotes));
    },
    close: () => client.close(),
  };
}
