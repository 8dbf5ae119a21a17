/**
 * The payload of a WAL entry record: one Loki entry in the form the forwarder ships.
 *
 *   varint  labels length | labels (UTF-8, `formatLabels`) | EntryAdapter (protobuf, rest of payload)
 *
 * EntryAdapter is Loki's `logproto.EntryAdapter`: timestamp = 1 (google.protobuf.Timestamp
 * {seconds = 1, nanos = 2}), line = 2, structuredMetadata = 3 (LabelPairAdapter {name = 1,
 * value = 2}). The protobuf push splices these bytes into a StreamAdapter as they are.
 * See docs/wal-format.md.
 */
import type { LokiEntry } from './entry.js';
import { ProtobufReader, WIRE_LEN, WIRE_VARINT, lenFieldSize, tagByte, varintSize, writeVarint } from './protobuf-wire.js';

const TAG_TIMESTAMP = tagByte(1, WIRE_LEN);
const TAG_LINE = tagByte(2, WIRE_LEN);
const TAG_METADATA = tagByte(3, WIRE_LEN);
const TAG_SECONDS = tagByte(1, WIRE_VARINT);
const TAG_NANOS = tagByte(2, WIRE_VARINT);
const TAG_PAIR_NAME = tagByte(1, WIRE_LEN);
const TAG_PAIR_VALUE = tagByte(2, WIRE_LEN);

function timestampSize(seconds: number, nanos: number): number {
  return (seconds > 0 ? 1 + varintSize(seconds) : 0) + (nanos > 0 ? 1 + varintSize(nanos) : 0);
}

export function encodeEntryPayload(entry: LokiEntry): Buffer {
  const labelsLength = Buffer.byteLength(entry.labels);
  const lineLength = Buffer.byteLength(entry.line);
  const tsSize = timestampSize(entry.seconds, entry.nanos);
  const pairs = entry.structuredMetadata.map(([name, value]) => {
    const n = Buffer.byteLength(name);
    const v = Buffer.byteLength(value);
    return { name, value, n, v, size: lenFieldSize(n) + lenFieldSize(v) };
  });
  let size = varintSize(labelsLength) + labelsLength + lenFieldSize(tsSize) + lenFieldSize(lineLength);
  for (const p of pairs) size += lenFieldSize(p.size);

  const buf = Buffer.allocUnsafe(size);
  let o = writeVarint(buf, 0, labelsLength);
  o += buf.write(entry.labels, o, 'utf8');
  buf[o++] = TAG_TIMESTAMP;
  o = writeVarint(buf, o, tsSize);
  if (entry.seconds > 0) {
    buf[o++] = TAG_SECONDS;
    o = writeVarint(buf, o, entry.seconds);
  }
  if (entry.nanos > 0) {
    buf[o++] = TAG_NANOS;
    o = writeVarint(buf, o, entry.nanos);
  }
  buf[o++] = TAG_LINE;
  o = writeVarint(buf, o, lineLength);
  o += buf.write(entry.line, o, 'utf8');
  for (const p of pairs) {
    buf[o++] = TAG_METADATA;
    o = writeVarint(buf, o, p.size);
    buf[o++] = TAG_PAIR_NAME;
    o = writeVarint(buf, o, p.n);
    o += buf.write(p.name, o, 'utf8');
    buf[o++] = TAG_PAIR_VALUE;
    o = writeVarint(buf, o, p.v);
    o += buf.write(p.value, o, 'utf8');
  }
  if (o !== size) throw new Error(`entry-codec: wrote ${o} of ${size} bytes`);
  return buf;
}

export interface EntryPayloadView {
  labels: string;
  /** The EntryAdapter bytes, a view into the payload (no copy). */
  entryAdapter: Buffer;
}

/** Splits a payload without decoding the entry: all the protobuf push needs. */
export function viewEntryPayload(payload: Buffer): EntryPayloadView {
  const reader = new ProtobufReader(payload);
  const [start, end] = reader.lengthDelimited();
  return { labels: payload.toString('utf8', start, end), entryAdapter: payload.subarray(end) };
}

export function decodeEntryAdapter(bytes: Buffer, labels: string): LokiEntry {
  const r = new ProtobufReader(bytes);
  let seconds = 0;
  let nanos = 0;
  let line = '';
  const structuredMetadata: Array<[string, string]> = [];
  while (!r.done) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const [s, e] = r.lengthDelimited();
      const ts = new ProtobufReader(bytes, s, e);
      while (!ts.done) {
        const t = ts.varint();
        if (t === TAG_SECONDS) seconds = ts.varint();
        else if (t === TAG_NANOS) nanos = ts.varint();
        else ts.skip(t & 7);
      }
    } else if (field === 2 && wire === WIRE_LEN) {
      line = r.string();
    } else if (field === 3 && wire === WIRE_LEN) {
      const [s, e] = r.lengthDelimited();
      const pair = new ProtobufReader(bytes, s, e);
      let name = '';
      let value = '';
      while (!pair.done) {
        const t = pair.varint();
        if (t === TAG_PAIR_NAME) name = pair.string();
        else if (t === TAG_PAIR_VALUE) value = pair.string();
        else pair.skip(t & 7);
      }
      structuredMetadata.push([name, value]);
    } else {
      r.skip(wire);
    }
  }
  return { seconds, nanos, labels, line, structuredMetadata };
}

export function decodeEntryPayload(payload: Buffer): LokiEntry {
  const view = viewEntryPayload(payload);
  return decodeEntryAdapter(view.entryAdapter, view.labels);
}
