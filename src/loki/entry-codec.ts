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

/**
 * Strings up to this many UTF-16 units are measured and copied in JavaScript: for the short
 * names and values an entry is made of, a call into Buffer's native code costs more than the
 * copy. Longer or non-ASCII strings go to Buffer.
 */
const SHORT_STRING = 64;

function utf8Length(s: string): number {
  if (s.length > SHORT_STRING) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s`, `bytes` long in UTF-8, at `o`; a string as long in bytes as in units is ASCII. */
function writeUtf8(buf: Buffer, o: number, s: string, bytes: number): number {
  if (bytes === s.length && bytes <= SHORT_STRING) {
    for (let i = 0; i < bytes; i++) buf[o + i] = s.charCodeAt(i);
    return o + bytes;
  }
  return o + buf.write(s, o, bytes, 'utf8');
}

/** UTF-8 lengths of the metadata names and values (two per pair), reused from entry to entry. */
let pairBytes = new Int32Array(64);

export function encodeEntryPayload(entry: LokiEntry): Buffer {
  const { labels, line, structuredMetadata: pairs } = entry;
  const labelsLength = utf8Length(labels);
  const lineLength = utf8Length(line);
  const tsSize = timestampSize(entry.seconds, entry.nanos);
  if (pairs.length * 2 > pairBytes.length) pairBytes = new Int32Array(pairs.length * 4);
  let size = varintSize(labelsLength) + labelsLength + lenFieldSize(tsSize) + lenFieldSize(lineLength);
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const n = (pairBytes[2 * i] = utf8Length(pair[0]));
    const v = (pairBytes[2 * i + 1] = utf8Length(pair[1]));
    size += lenFieldSize(lenFieldSize(n) + lenFieldSize(v));
  }

  const buf = Buffer.allocUnsafe(size);
  let o = writeVarint(buf, 0, labelsLength);
  o = writeUtf8(buf, o, labels, labelsLength);
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
  o = writeUtf8(buf, o, line, lineLength);
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const n = pairBytes[2 * i]!;
    const v = pairBytes[2 * i + 1]!;
    buf[o++] = TAG_METADATA;
    o = writeVarint(buf, o, lenFieldSize(n) + lenFieldSize(v));
    buf[o++] = TAG_PAIR_NAME;
    o = writeVarint(buf, o, n);
    o = writeUtf8(buf, o, pair[0], n);
    buf[o++] = TAG_PAIR_VALUE;
    o = writeVarint(buf, o, v);
    o = writeUtf8(buf, o, pair[1], v);
  }
  if (o !== size) throw new Error(`entry-codec: wrote ${o} of ${size} bytes`);
  return buf;
}

/**
 * Reads the labels of payloads one after another, for the push encoder. The payloads of a
 * batch mostly share a label set, so while the labels bytes are those of the payload before,
 * its string is returned again: one string per run of a stream rather than one per entry, and
 * no view objects — the delivery thread reads every entry it ships this way.
 */
export class PayloadLabelsReader {
  #bytes: Buffer | null = null;
  #text = '';
  /** Where the EntryAdapter starts in the payload last read. */
  entryStart = 0;

  read(payload: Buffer): string {
    const [start, end] = new ProtobufReader(payload).lengthDelimited();
    const length = end - start;
    this.entryStart = end;
    const last = this.#bytes;
    if (last === null || last.length !== length || payload.compare(last, 0, length, start, end) !== 0) {
      this.#bytes = payload.subarray(start, end);
      this.#text = payload.toString('utf8', start, end);
    }
    return this.#text;
  }
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
  const [start, end] = new ProtobufReader(payload).lengthDelimited();
  return decodeEntryAdapter(payload.subarray(end), payload.toString('utf8', start, end));
}
