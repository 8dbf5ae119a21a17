/**
 * The bytes of a WAL segment file: a fixed header, then record frames back to back.
 * docs/wal-format.md is the prose version of this file; change both together.
 *
 * Header (64 bytes, little-endian):
 *   0  8  magic "LSTKWAL1"
 *   8  2  format version (1)
 *  10  2  header length (64)
 *  12  4  reserved, zero
 *  16  8  segment sequence number
 *  24  8  creation time, ms since the epoch
 *  32  8  seq of the first record this segment holds (or will hold)
 *  40 20  reserved, zero
 *  60  4  CRC-32 of bytes 0..59
 *
 * Record frame (24-byte head + payload):
 *   0  4  payload length
 *   4  4  CRC-32 of bytes 0..3 then bytes 8..(24 + length): length, seq, time and payload
 *   8  8  seq (per-token record sequence number)
 *  16  8  append time, ms since the epoch
 *  24  …  payload
 *
 * 64-bit fields hold integers below 2^48 (the top two bytes are zero), which keeps them exact
 * JavaScript numbers and gives a cheap plausibility check when resynchronising after damage.
 */
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('LSTKWAL1', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 64;
export const FRAME_HEAD_BYTES = 24;
/** No payload is larger; a length field above it is damage, not data. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export interface SegmentHeader {
  readonly segment: number;
  readonly createdAtMs: number;
  readonly firstSeq: number;
}

function writeU48(buf: Buffer, offset: number, value: number): void {
  buf.writeUIntLE(value, offset, 6);
  buf.writeUInt16LE(0, offset + 6);
}

function readU48(buf: Buffer, offset: number): number | null {
  if (buf.readUInt16LE(offset + 6) !== 0) return null;
  return buf.readUIntLE(offset, 6);
}

export function encodeHeader(header: SegmentHeader): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  SEGMENT_MAGIC.copy(buf, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 8);
  buf.writeUInt16LE(HEADER_BYTES, 10);
  writeU48(buf, 16, header.segment);
  writeU48(buf, 24, header.createdAtMs);
  writeU48(buf, 32, header.firstSeq);
  buf.writeUInt32LE(crc32(buf.subarray(0, 60)), 60);
  return buf;
}

/** Returns the header, or a reason why these bytes are not a header we can read. */
export function decodeHeader(buf: Buffer): SegmentHeader | string {
  if (buf.length < HEADER_BYTES) return `header is ${buf.length} bytes, expected ${HEADER_BYTES}`;
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'bad magic';
  if (buf.readUInt32LE(60) !== crc32(buf.subarray(0, 60))) return 'header CRC mismatch';
  const version = buf.readUInt16LE(8);
  if (version !== FORMAT_VERSION) return `format version ${version} is not supported (this build reads ${FORMAT_VERSION})`;
  const segment = readU48(buf, 16);
  const createdAtMs = readU48(buf, 24);
  const firstSeq = readU48(buf, 32);
  if (segment === null || createdAtMs === null || firstSeq === null) return 'header field out of range';
  return { segment, createdAtMs, firstSeq };
}

export function frameSize(payload: Buffer): number {
  return FRAME_HEAD_BYTES + payload.length;
}

/** Writes one frame at `offset` of `buf`; returns the offset after it. */
export function writeFrame(buf: Buffer, offset: number, seq: number, appendedAtMs: number, payload: Buffer): number {
  buf.writeUInt32LE(payload.length, offset);
  writeU48(buf, offset + 8, seq);
  writeU48(buf, offset + 16, appendedAtMs);
  payload.copy(buf, offset + FRAME_HEAD_BYTES);
  const end = offset + FRAME_HEAD_BYTES + payload.length;
  const crc = crc32(buf.subarray(offset + 8, end), crc32(buf.subarray(offset, offset + 4)));
  buf.writeUInt32LE(crc, offset + 4);
  return end;
}

/**
 * Frames `payloads` with consecutive seqs from `firstSeq` at the start of `into`, which must
 * hold them all; returns the framed bytes, a view of `into`.
 */
export function encodeFrames(payloads: readonly Buffer[], firstSeq: number, appendedAtMs: number, into: Buffer): Buffer {
  let offset = 0;
  for (let i = 0; i < payloads.length; i++) offset = writeFrame(into, offset, firstSeq + i, appendedAtMs, payloads[i]!);
  return into.subarray(0, offset);
}

export interface DecodedFrame {
  readonly seq: number;
  readonly appendedAtMs: number;
  /** A view into the buffer read from disk. */
  readonly payload: Buffer;
  readonly size: number;
}

export type FrameCheck =
  | { readonly kind: 'frame'; readonly frame: DecodedFrame }
  /** The frame runs past the bytes available: read more, or it is a torn tail. */
  | { readonly kind: 'incomplete'; readonly needBytes: number }
  | { readonly kind: 'corrupt'; readonly reason: string };

/** Checks the frame starting at `offset`; `buf` holds the bytes up to the readable end. */
export function checkFrame(buf: Buffer, offset: number): FrameCheck {
  if (buf.length - offset < FRAME_HEAD_BYTES) return { kind: 'incomplete', needBytes: FRAME_HEAD_BYTES };
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_BYTES) return { kind: 'corrupt', reason: `length ${length} is over the maximum` };
  const seq = readU48(buf, offset + 8);
  const appendedAtMs = readU48(buf, offset + 16);
  if (seq === null || appendedAtMs === null) return { kind: 'corrupt', reason: 'seq or time out of range' };
  const size = FRAME_HEAD_BYTES + length;
  if (buf.length - offset < size) return { kind: 'incomplete', needBytes: size };
  const end = offset + size;
  const crc = crc32(buf.subarray(offset + 8, end), crc32(buf.subarray(offset, offset + 4)));
  if (crc !== buf.readUInt32LE(offset + 4)) return { kind: 'corrupt', reason: 'CRC mismatch' };
  return { kind: 'frame', frame: { seq, appendedAtMs, payload: buf.subarray(offset + FRAME_HEAD_BYTES, end), size } };
}

/**
 * After damage at `from`, the offset of the next frame in `buf` that checks out and continues
 * the sequence (seq > afterSeq), or -1. Cheap plausibility tests run before any CRC.
 */
export function findNextFrame(buf: Buffer, from: number, afterSeq: number): number {
  for (let offset = from; offset + FRAME_HEAD_BYTES <= buf.length; offset++) {
    if (buf.readUInt16LE(offset + 14) !== 0 || buf.readUInt16LE(offset + 22) !== 0) continue;
    const seq = buf.readUIntLE(offset + 8, 6);
    if (seq <= afterSeq) continue;
    const check = checkFrame(buf, offset);
    if (check.kind === 'frame') return offset;
  }
  return -1;
}

export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(16, '0')}.wal`;
}

const SEGMENT_FILE = /^(\d{16})\.wal$/;

export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_FILE.exec(name);
  return m ? Number(m[1]) : null;
}
