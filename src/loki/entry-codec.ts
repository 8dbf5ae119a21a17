/**
 * An entry as the WAL stores it and the forwarder ships it: Loki's `logproto.EntryAdapter`,
 * protobuf — timestamp = 1 (google.protobuf.Timestamp {seconds = 1, nanos = 2}), line = 2,
 * structuredMetadata = 3 (LabelPairAdapter {name = 1, value = 2}). Its label set is stored
 * beside it, once per segment (docs/wal-format.md); the protobuf push splices these bytes into
 * a StreamAdapter as they are.
 */
import type { AppendBatchBuilder } from '../wal/append-batch.js';
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
/** UTF-8 length of the line last measured. */
let lineBytes = 0;

/** The size of the EntryAdapter of `entry`; fills `pairBytes` for the write that follows. */
function measure(entry: LokiEntry): number {
  const pairs = entry.structuredMetadata;
  if (pairs.length * 2 > pairBytes.length) pairBytes = new Int32Array(pairs.length * 4);
  lineBytes = utf8Length(entry.line);
  let size = lenFieldSize(timestampSize(entry.seconds, entry.nanos)) + lenFieldSize(lineBytes);
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const n = (pairBytes[2 * i] = utf8Length(pair[0]));
    const v = (pairBytes[2 * i + 1] = utf8Length(pair[1]));
    size += lenFieldSize(lenFieldSize(n) + lenFieldSize(v));
  }
  return size;
}

/** Writes the EntryAdapter of `entry`, `size` bytes as `measure` just said, at `o` of `buf`. */
function write(buf: Buffer, o: number, entry: LokiEntry, size: number): void {
  const start = o;
  const pairs = entry.structuredMetadata;
  const lineLength = lineBytes;
  buf[o++] = TAG_TIMESTAMP;
  o = writeVarint(buf, o, timestampSize(entry.seconds, entry.nanos));
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
  o = writeUtf8(buf, o, entry.line, lineLength);
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
  if (o - start !== size) throw new Error(`entry-codec: wrote ${o - start} of ${size} bytes`);
}

/**
 * Adds `entry` to a WAL batch: its size is measured first, so the batch refuses it (the WAL's
 * quota or disk reserve) before a byte of it is written.
 */
export function appendEntry(builder: AppendBatchBuilder, entry: LokiEntry): void {
  const size = measure(entry);
  const at = builder.claim(entry.labels, size);
  write(builder.buffer, at, entry, size);
}

/** The EntryAdapter of `entry`, on its own. */
export function encodeEntry(entry: LokiEntry): Buffer {
  const size = measure(entry);
  const buf = Buffer.allocUnsafe(size);
  write(buf, 0, entry, size);
  return buf;
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
