/**
 * Loki push bodies built from entries as the WAL stores them (see entry-codec.ts) with their
 * label sets, entries grouped into streams by their label string, each stream keeping the order
 * its entries came in.
 *
 * protobuf: `logproto.PushRequest { repeated StreamAdapter streams = 1 }`,
 *   `StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2 }` (the `hash = 3`
 *   field is Loki-internal and left out). The stored EntryAdapter bytes are spliced in as they
 *   are, so a redelivery is byte-identical and Loki drops it as a duplicate. Raw block snappy,
 *   which is what Loki's `util.RawSnappy` expects for `application/x-protobuf`.
 * json: `{"streams":[{"stream":{...},"values":[["<ns>","line",{metadata}]]}]}`, gzip.
 *
 * Size: `batch_max_bytes` bounds the *uncompressed protobuf* size (`PushSizer`), whatever the
 * encoding, because
 *   - Loki's `distributor.max_recv_msg_size` (100 MiB by default) applies, in recent 3.x
 *     releases, to the body as sent and to the decompressed body: the decompressed size is the
 *     one that gets exceeded (413);
 *   - it is an upper bound of what Loki's ingestion rate limiter charges (line + structured
 *     metadata bytes): a batch under `ingestion_burst_size_mb` cannot be refused with 429
 *     forever;
 *   - it is exact and known before compressing, so cutting is deterministic and a 413 split
 *     halves predictably.
 * The snappy body is smaller except for incompressible data (at most ~1/6 larger). The JSON
 * body before gzip is larger than the protobuf one (quoting, escaping, decimal timestamps);
 * Loki's 100 MiB leaves ample room for that at our batch sizes.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { compressSync as snappyCompressSync } from 'snappy';
import { parseLabels, timestampNs } from './entry.js';
import { decodeEntryAdapter } from './entry-codec.js';
import { WIRE_LEN, lenFieldSize, tagByte, writeVarint } from './protobuf-wire.js';

const gzip = promisify(gzipCallback);

const TAG_STREAM = tagByte(1, WIRE_LEN);
const TAG_STREAM_LABELS = tagByte(1, WIRE_LEN);
const TAG_STREAM_ENTRY = tagByte(2, WIRE_LEN);

export type PushEncoding = 'protobuf' | 'json';

/** An entry to ship: its label set and its EntryAdapter bytes (a WAL record is one). */
export interface ShippedEntry {
  readonly labels: string;
  readonly entry: Buffer;
}

export interface EncodedPush {
  /** The body as sent (compressed). */
  readonly body: Buffer;
  /** Content-Type and Content-Encoding of the body. */
  readonly headers: Readonly<Record<string, string>>;
  readonly entries: number;
  readonly streams: number;
  /** Bytes of the body before compression. */
  readonly rawBytes: number;
}

interface StreamGroup {
  readonly labels: string;
  readonly labelsBytes: number;
  /** The EntryAdapters of the stream. */
  readonly entries: Buffer[];
  /** Bytes of the StreamAdapter message, without its own tag and length. */
  size: number;
}

function groupStreams(entries: readonly ShippedEntry[]): Map<string, StreamGroup> {
  const groups = new Map<string, StreamGroup>();
  let group: StreamGroup | undefined;
  for (const { labels, entry } of entries) {
    if (group?.labels !== labels) {
      group = groups.get(labels);
      if (group === undefined) {
        const labelsBytes = Buffer.byteLength(labels);
        group = { labels, labelsBytes, entries: [], size: lenFieldSize(labelsBytes) };
        groups.set(labels, group);
      }
    }
    group.entries.push(entry);
    group.size += lenFieldSize(entry.length);
  }
  return groups;
}

function encodeProtobuf(groups: Map<string, StreamGroup>): Buffer {
  let total = 0;
  for (const group of groups.values()) total += lenFieldSize(group.size);
  const buf = Buffer.allocUnsafe(total);
  let o = 0;
  for (const group of groups.values()) {
    buf[o++] = TAG_STREAM;
    o = writeVarint(buf, o, group.size);
    buf[o++] = TAG_STREAM_LABELS;
    o = writeVarint(buf, o, group.labelsBytes);
    o += buf.write(group.labels, o, 'utf8');
    for (const entry of group.entries) {
      buf[o++] = TAG_STREAM_ENTRY;
      o = writeVarint(buf, o, entry.length);
      o += entry.copy(buf, o);
    }
  }
  if (o !== total) throw new Error(`push-request: wrote ${o} of ${total} bytes`);
  return buf;
}

type JsonValue = [string, string] | [string, string, Record<string, string>];

function encodeJson(groups: Map<string, StreamGroup>): Buffer {
  const streams = [];
  for (const group of groups.values()) {
    const values: JsonValue[] = group.entries.map((bytes) => {
      const entry = decodeEntryAdapter(bytes, group.labels);
      const ts = timestampNs(entry.seconds, entry.nanos);
      if (entry.structuredMetadata.length === 0) return [ts, entry.line];
      return [ts, entry.line, Object.fromEntries(entry.structuredMetadata)];
    });
    streams.push({ stream: parseLabels(group.labels), values });
  }
  return Buffer.from(JSON.stringify({ streams }));
}

/**
 * Builds the push body. gzip runs on the libuv thread pool (tens of ms per MB). snappy runs
 * on the event loop (1–2 ms for a 512 KiB batch) with `copyOutputData`: the addon's own output
 * buffers, and its thread-pool call's allocations, are memory V8 neither sees nor counts, so
 * garbage collection never hurried to free them — measured, a forwarder draining a backlog
 * grew to 470 MB RSS that way, against ~85 MB for the same work copied into V8's buffers.
 */
export async function encodePush(entries: readonly ShippedEntry[], encoding: PushEncoding): Promise<EncodedPush> {
  const groups = groupStreams(entries);
  if (encoding === 'protobuf') {
    const raw = encodeProtobuf(groups);
    return {
      body: snappyCompressSync(raw, { copyOutputData: true }),
      headers: { 'content-type': 'application/x-protobuf' },
      entries: entries.length,
      streams: groups.size,
      rawBytes: raw.length,
    };
  }
  const raw = encodeJson(groups);
  return {
    body: await gzip(raw),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    entries: entries.length,
    streams: groups.size,
    rawBytes: raw.length,
  };
}

/**
 * Tracks the exact uncompressed protobuf size of a push as entries are added, in O(1) per
 * entry, so that the batcher can cut before `loki.batch_max_bytes` is crossed.
 */
export interface PushSizer {
  /** Bytes of the protobuf push so far. */
  readonly bytes: number;
  readonly entries: number;
  /** Adds the entry if the push stays within `maxBytes`, or if it is the first; false if not added. */
  addWithin(entry: ShippedEntry, maxBytes: number): boolean;
  add(entry: ShippedEntry): void;
}

class StreamSizer implements PushSizer {
  /** Label string → StreamAdapter message size (without its own tag and length). */
  readonly #streams = new Map<string, number>();
  #bytes = 0;
  #entries = 0;

  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#entries;
  }

  addWithin({ labels, entry }: ShippedEntry, maxBytes: number): boolean {
    const known = this.#streams.get(labels);
    const before = known ?? lenFieldSize(Buffer.byteLength(labels));
    const after = before + lenFieldSize(entry.length);
    // A stream's length prefix can grow by a byte as the stream grows: recount its framing.
    const total = this.#bytes - (known === undefined ? 0 : lenFieldSize(before)) + lenFieldSize(after);
    if (this.#entries > 0 && total > maxBytes) return false;
    this.#streams.set(labels, after);
    this.#bytes = total;
    this.#entries++;
    return true;
  }

  add(entry: ShippedEntry): void {
    this.addWithin(entry, Infinity);
  }
}

export function createPushSizer(): PushSizer {
  return new StreamSizer();
}

/** Exact uncompressed protobuf size of a push of these entries. */
export function pushSize(entries: readonly ShippedEntry[]): number {
  const sizer = createPushSizer();
  for (const entry of entries) sizer.add(entry);
  return sizer.bytes;
}

/**
 * Halves a batch that Loki refused with 413, keeping order (the first half is delivered
 * first). Null when there is nothing left to split: a single entry too large for Loki is
 * dead-lettered instead.
 */
export function splitPayloads<T>(items: readonly T[]): [T[], T[]] | null {
  if (items.length < 2) return null;
  const middle = Math.ceil(items.length / 2);
  return [items.slice(0, middle), items.slice(middle)];
}
