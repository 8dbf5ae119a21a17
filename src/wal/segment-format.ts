/**
 * The bytes of a WAL segment file: a fixed header, then record frames back to back.
 * docs/wal-format.md is the prose version of this file; change both together.
 *
 * Header (64 bytes, little-endian):
 *   0  8  magic "LSTKWAL1"
 *   8  2  format version: 1 (entries carry their label set) or 2 (label sets stored once)
 *  10  2  header length (64)
 *  12  4  reserved, zero
 *  16  8  segment sequence number (the file name's)
 *  24  8  creation time, ms since the epoch
 *  32  8  seq of the first entry this segment holds (or will hold)
 *  40  8  WAL id: random, the same in every segment of a token's folder and in its cursor
 *         (zero in segments of earlier releases: unknown)
 *  48 12  reserved, zero
 *  60  4  CRC-32 of bytes 0..59
 *
 * Record frame (24-byte head + payload):
 *   0  4  payload length
 *   4  4  CRC-32 of bytes 0..3 then bytes 8..(24 + length): length, head fields and payload
 *   8  6  seq
 *  14  1  kind: 0 an entry with its label set (version 1), 1 an entry, 2 a label set
 *  15  1  reserved, zero
 *  16  6  append time, ms since the epoch
 *  22  2  reserved, zero
 *  24  …  payload
 *
 * Version 1 wrote the seq and time as 8-byte fields below 2^48, so its frames are version 2
 * frames of kind 0: a reader takes both, whatever a (possibly damaged) header says. A label
 * set's seq is that of the entry written after it, so seqs never go back and a gap between two
 * good frames is exactly the entries lost between them.
 */
import { crc32 } from 'node:zlib';
import { frameCrc } from './frame-crc.js';

export const SEGMENT_MAGIC = Buffer.from('LSTKWAL1', 'latin1');
/** The version this build writes; it reads 1 too. */
export const FORMAT_VERSION = 2;
export const HEADER_BYTES = 64;
export const FRAME_HEAD_BYTES = 24;
/** No payload is larger; a length field above it is damage, not data. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** No label set is larger (Loki's limits allow ~50 KB); a label-set frame above it is damage. */
export const MAX_LABEL_SET_BYTES = 1024 * 1024;
/**
 * The largest frame this build writes. Readers look back this far for the frame that ends at
 * a cursor (frame-scanner.ts), so a larger one would make a good cursor look like damage; the
 * previous release wrote up to MAX_PAYLOAD_BYTES, which is still read.
 */
export const MAX_WRITTEN_FRAME_BYTES = 16 * 1024 * 1024;
/** Segment numbers and seqs are 48-bit fields: exact JavaScript numbers, and a plausibility check. */
export const MAX_U48 = 2 ** 48 - 1;

export const KIND_V1_ENTRY = 0;
export const KIND_ENTRY = 1;
export const KIND_LABEL_SET = 2;
export type FrameKind = typeof KIND_V1_ENTRY | typeof KIND_ENTRY | typeof KIND_LABEL_SET;

export interface SegmentHeader {
  readonly version: number;
  readonly segment: number;
  readonly createdAtMs: number;
  readonly firstSeq: number;
  /** The WAL id (16 hex digits); null when zero, as earlier releases wrote it. */
  readonly walId: string | null;
}

/** Bytes of a WAL id; see `newWalId`. */
const WAL_ID_BYTES = 8;
const WAL_ID_OFFSET = 40;
export const WAL_ID = /^[0-9a-f]{16}$/;

/**
 * A new WAL id: 64 random bits, never zero. It tells one token folder's segments and cursor
 * from another's, which their seqs and offsets cannot: two keys with traffic of the same shape
 * have cursors that fit each other's records.
 */
export function newWalId(random: (bytes: number) => Buffer): string {
  for (;;) {
    const id = random(WAL_ID_BYTES).toString('hex');
    if (id !== '0'.repeat(WAL_ID_BYTES * 2)) return id;
  }
}

function writeU48(buf: Buffer, offset: number, value: number): void {
  buf.writeUIntLE(value, offset, 6);
  buf.writeUInt16LE(0, offset + 6);
}

function readU48(buf: Buffer, offset: number): number | null {
  if (buf.readUInt16LE(offset + 6) !== 0) return null;
  return buf.readUIntLE(offset, 6);
}

export function encodeHeader(header: Omit<SegmentHeader, 'version' | 'walId'> & { readonly walId?: string | null }): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  SEGMENT_MAGIC.copy(buf, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 8);
  buf.writeUInt16LE(HEADER_BYTES, 10);
  writeU48(buf, 16, header.segment);
  writeU48(buf, 24, header.createdAtMs);
  writeU48(buf, 32, header.firstSeq);
  if (header.walId) buf.write(header.walId, WAL_ID_OFFSET, WAL_ID_BYTES, 'hex');
  buf.writeUInt32LE(crc32(buf.subarray(0, 60)), 60);
  return buf;
}

/** Returns the header, or a reason why these bytes are not a header this build can use. */
export function decodeHeader(buf: Buffer): SegmentHeader | string {
  if (buf.length < HEADER_BYTES) return `header is ${buf.length} bytes, expected ${HEADER_BYTES}`;
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'bad magic';
  if (buf.readUInt32LE(60) !== crc32(buf.subarray(0, 60))) return 'header CRC mismatch';
  const version = buf.readUInt16LE(8);
  if (version !== 1 && version !== 2) return `format version ${version} is not supported (this build reads 1 and 2)`;
  const segment = readU48(buf, 16);
  const createdAtMs = readU48(buf, 24);
  const firstSeq = readU48(buf, 32);
  if (segment === null || createdAtMs === null || firstSeq === null) return 'header field out of range';
  const id = buf.toString('hex', WAL_ID_OFFSET, WAL_ID_OFFSET + WAL_ID_BYTES);
  return { version, segment, createdAtMs, firstSeq, walId: /^0+$/.test(id) ? null : id };
}

/** Writes one frame at `offset` of `buf`, its payload already at `offset + FRAME_HEAD_BYTES`; returns the offset after it. */
export function sealFrame(buf: Buffer, offset: number, kind: FrameKind, seq: number, appendedAtMs: number, payloadLength: number): number {
  buf.writeUInt32LE(payloadLength, offset);
  buf.writeUIntLE(seq, offset + 8, 6);
  buf[offset + 14] = kind;
  buf[offset + 15] = 0;
  writeU48(buf, offset + 16, appendedAtMs);
  const end = offset + FRAME_HEAD_BYTES + payloadLength;
  buf.writeUInt32LE(frameCrc(buf, offset, end), offset + 4);
  return end;
}

export interface DecodedFrame {
  readonly kind: FrameKind;
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

/**
 * Whether the 24 bytes at `offset` can be a frame head: reserved bytes zero, a known kind, a
 * length within bounds. Cheap, so that resynchronising after damage runs a CRC only rarely.
 */
export function plausibleHead(buf: Buffer, offset: number): boolean {
  const kind = buf[offset + 14]!;
  if (kind > KIND_LABEL_SET || buf[offset + 15] !== 0 || buf.readUInt16LE(offset + 22) !== 0) return false;
  const length = buf.readUInt32LE(offset);
  return length <= (kind === KIND_LABEL_SET ? MAX_LABEL_SET_BYTES : MAX_PAYLOAD_BYTES);
}

/** Checks the frame starting at `offset`; `buf` holds the bytes up to the readable end. */
export function checkFrame(buf: Buffer, offset: number): FrameCheck {
  if (buf.length - offset < FRAME_HEAD_BYTES) return { kind: 'incomplete', needBytes: FRAME_HEAD_BYTES };
  if (!plausibleHead(buf, offset)) return { kind: 'corrupt', reason: 'not a frame head (reserved bytes, kind or length out of range)' };
  const length = buf.readUInt32LE(offset);
  const size = FRAME_HEAD_BYTES + length;
  if (buf.length - offset < size) return { kind: 'incomplete', needBytes: size };
  const end = offset + size;
  if (frameCrc(buf, offset, end) !== buf.readUInt32LE(offset + 4)) return { kind: 'corrupt', reason: 'CRC mismatch' };
  return {
    kind: 'frame',
    frame: {
      kind: buf[offset + 14] as FrameKind,
      seq: buf.readUIntLE(offset + 8, 6),
      appendedAtMs: buf.readUIntLE(offset + 16, 6),
      payload: buf.subarray(offset + FRAME_HEAD_BYTES, end),
      size,
    },
  };
}

/** 16 digits, `.wal`: the only names a segment is written under. */
const SEGMENT_FILE = /^(\d{16})\.wal$/;

export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(16, '0')}.wal`;
}

/**
 * The segment number of a file name, or null when the name is not a segment's: the number
 * must fit the header's 48-bit field (and so be an exact JavaScript number), and not be 0.
 */
export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_FILE.exec(name);
  if (!m) return null;
  const n = Number(m[1]);
  return n >= 1 && n <= MAX_U48 ? n : null;
}

/** Whether a name looks like a segment's, whatever its number: for telling an operator why it was set aside. */
export function looksLikeSegmentFileName(name: string): boolean {
  return SEGMENT_FILE.test(name);
}
