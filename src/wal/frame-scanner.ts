/**
 * Reads record frames from a segment file between two offsets, in bounded windows, and gets
 * past damage: a frame whose CRC fails is skipped by resynchronising on the next frame that
 * checks out and continues the sequence, so one flipped byte costs the records it hit and
 * never the rest of the segment (or the token, or the service).
 */
import type { FileHandle } from 'node:fs/promises';
import { FRAME_HEAD_BYTES, MAX_PAYLOAD_BYTES, checkFrame, type DecodedFrame } from './segment-format.js';

const WINDOW_BYTES = 1024 * 1024;
/**
 * The smallest read. Reads are sized to what was asked for (plus frame heads): every byte read
 * is a buffer the GC must free, and a forwarder draining 100k entries/s that read a fixed 1 MiB
 * for each small batch or peek kept hundreds of MB of garbage buffers alive between collections.
 */
const MIN_WINDOW_BYTES = 64 * 1024;
/** A resynchronised frame must continue the sequence within this distance (records lost to damage). */
const MAX_SEQ_GAP = 1_000_000_000;

export interface ScannedFrame extends DecodedFrame {
  readonly offset: number;
}

export interface ScanLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

export interface ScanResult {
  readonly frames: ScannedFrame[];
  /** Offset after the last frame returned, or `end` when damage ran to the end. */
  readonly next: number;
  /** Records lost to damage (from the seq gap where known, else 1 per damaged region). */
  readonly corrupt: number;
  /** Where damage begins that no valid frame follows before `end`; null when none. */
  readonly damagedTailAt: number | null;
  /** seq of the last good frame seen (input `afterSeq` when none). */
  readonly lastSeq: number;
}

export async function readRange(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

/**
 * Offset of the next frame at or after `from` that checks out and continues the sequence
 * (seq above `afterSeq`, and within MAX_SEQ_GAP of it when `afterSeq` is known, i.e. > 0), or -1.
 */
async function resync(fh: FileHandle, from: number, end: number, afterSeq: number): Promise<number> {
  for (let start = from; start < end; start += WINDOW_BYTES) {
    const window = await readRange(fh, start, Math.min(WINDOW_BYTES + FRAME_HEAD_BYTES, end - start));
    const last = Math.min(window.length - FRAME_HEAD_BYTES, WINDOW_BYTES - 1);
    for (let i = 0; i <= last; i++) {
      if (window.readUInt16LE(i + 14) !== 0 || window.readUInt16LE(i + 22) !== 0) continue;
      const seq = window.readUIntLE(i + 8, 6);
      if (seq <= afterSeq || (afterSeq > 0 && seq > afterSeq + MAX_SEQ_GAP)) continue;
      const length = window.readUInt32LE(i);
      if (length > MAX_PAYLOAD_BYTES || start + i + FRAME_HEAD_BYTES + length > end) continue;
      const candidate =
        i + FRAME_HEAD_BYTES + length <= window.length
          ? window.subarray(i, i + FRAME_HEAD_BYTES + length)
          : await readRange(fh, start + i, FRAME_HEAD_BYTES + length);
      if (checkFrame(candidate, 0).kind === 'frame') return start + i;
    }
  }
  return -1;
}

export async function scanFrames(fh: FileHandle, from: number, end: number, limits: ScanLimits, afterSeq: number): Promise<ScanResult> {
  const frames: ScannedFrame[] = [];
  let bytes = 0;
  let corrupt = 0;
  let lastSeq = afterSeq;
  let pos = from;
  let want = Math.min(WINDOW_BYTES, Math.max(MIN_WINDOW_BYTES, limits.maxBytes + Math.ceil(limits.maxBytes / 8) + FRAME_HEAD_BYTES));

  while (pos < end && frames.length < limits.maxRecords && (frames.length === 0 || bytes < limits.maxBytes)) {
    const asked = Math.min(want, end - pos);
    const chunk = await readRange(fh, pos, asked);
    if (chunk.length === 0) break;
    let off = 0;
    let damaged = false;
    while (off < chunk.length && frames.length < limits.maxRecords && (frames.length === 0 || bytes < limits.maxBytes)) {
      const check = checkFrame(chunk, off);
      if (check.kind === 'frame') {
        const { frame } = check;
        if (lastSeq > 0 && frame.seq <= lastSeq) {
          damaged = true;
          break;
        }
        frames.push({ ...frame, offset: pos + off });
        bytes += frame.payload.length;
        lastSeq = frame.seq;
        off += frame.size;
      } else if (check.kind === 'incomplete' && chunk.length === asked && pos + off + check.needBytes <= end) {
        // The frame is whole on disk but not in this window: read again from its start. A short
        // read means the file ends before `end` (a running writer undid a failed write after a
        // read-only inspector stat'ed it): re-reading would loop forever, it is a torn tail.
        want = Math.max(want, check.needBytes);
        break;
      } else {
        damaged = true;
        break;
      }
    }
    pos += off;
    if (!damaged) continue;

    const found = await resync(fh, pos + 1, end, lastSeq);
    if (found < 0) return { frames, next: end, corrupt: corrupt + 1, damagedTailAt: pos, lastSeq };
    const seqAtFound = (await readRange(fh, found + 8, 6)).readUIntLE(0, 6);
    corrupt += lastSeq > 0 ? Math.max(1, seqAtFound - lastSeq - 1) : 1;
    pos = found;
  }
  return { frames, next: pos, corrupt, damagedTailAt: null, lastSeq };
}
