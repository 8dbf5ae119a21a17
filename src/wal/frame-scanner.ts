/**
 * Reads record frames from a segment file between two offsets, in bounded windows, and gets
 * past damage: bytes that are not a good frame are skipped by resynchronising on the next frame
 * that checks out and continues the sequence, so one flipped byte costs the records it hit and
 * never the rest of the segment (or the token, or the service). What was skipped is reported
 * with the seqs on both sides, from which the caller counts the entries lost exactly.
 */
import type { FileHandle } from 'node:fs/promises';
import { FRAME_HEAD_BYTES, HEADER_BYTES, KIND_LABEL_SET, MAX_WRITTEN_FRAME_BYTES, checkFrame, plausibleHead, type DecodedFrame } from './segment-format.js';

const WINDOW_BYTES = 1024 * 1024;
/**
 * The smallest read. Reads are sized to what was asked for (plus frame heads): every byte read
 * is a buffer the GC must free, and a forwarder draining 100k entries/s that read a fixed 1 MiB
 * for each small batch or peek kept hundreds of MB of garbage buffers alive between collections.
 */
const MIN_WINDOW_BYTES = 64 * 1024;
/** A resynchronised frame must continue the sequence within this distance (entries lost to damage). */
const MAX_SEQ_GAP = 1_000_000_000;

export interface ScannedFrame extends DecodedFrame {
  readonly offset: number;
}

export interface ScanLimits {
  /** Entry frames; label sets do not count. */
  readonly maxRecords: number;
  readonly maxBytes: number;
}

/** Bytes that are not a good frame. */
export interface DamageRegion {
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
  /** seq of the last entry before it; null when not known. */
  readonly seqBefore: number | null;
  /** seq of the good frame after it (an entry's, or the next entry's for a label set); null when it runs to the end. */
  readonly seqAfter: number | null;
}

export interface ScanResult {
  /** Good frames of every kind, in order. */
  readonly frames: ScannedFrame[];
  /** Offset after the last frame returned, or `end` when damage ran to the end. */
  readonly next: number;
  readonly damage: DamageRegion[];
  /** Where damage begins that no good frame follows before `end`; null when none. */
  readonly damagedTailAt: number | null;
  /** seq of the last entry seen (input `afterSeq` when none). */
  readonly lastSeq: number | null;
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

/** The good frame starting at `offset`, read no further than `end`; null when there is none. */
export async function frameAt(fh: FileHandle, offset: number, end: number): Promise<DecodedFrame | null> {
  if (offset + FRAME_HEAD_BYTES > end) return null;
  const head = await readRange(fh, offset, FRAME_HEAD_BYTES);
  if (head.length < FRAME_HEAD_BYTES || !plausibleHead(head, 0)) return null;
  const size = FRAME_HEAD_BYTES + head.readUInt32LE(0);
  if (offset + size > end) return null;
  const check = checkFrame(await readRange(fh, offset, size), 0);
  return check.kind === 'frame' ? check.frame : null;
}

/** Whether a frame of `seq` may follow the entry `afterSeq`; a label set carries the seq of the entry after it. */
function continues(seq: number, afterSeq: number | null): boolean {
  return afterSeq === null || (seq > afterSeq && seq <= afterSeq + 1 + MAX_SEQ_GAP);
}

/** The next good frame at or after `from` that continues the sequence, or null. */
async function resync(fh: FileHandle, from: number, end: number, afterSeq: number | null): Promise<{ offset: number; seq: number } | null> {
  for (let start = from; start < end; start += WINDOW_BYTES) {
    const window = await readRange(fh, start, Math.min(WINDOW_BYTES + FRAME_HEAD_BYTES, end - start));
    const last = Math.min(window.length - FRAME_HEAD_BYTES, WINDOW_BYTES - 1);
    for (let i = 0; i <= last; i++) {
      if (!plausibleHead(window, i)) continue;
      const seq = window.readUIntLE(i + 8, 6);
      if (!continues(seq, afterSeq)) continue;
      const size = FRAME_HEAD_BYTES + window.readUInt32LE(i);
      if (start + i + size > end) continue;
      const candidate = i + size <= window.length ? window.subarray(i, i + size) : await readRange(fh, start + i, size);
      if (checkFrame(candidate, 0).kind === 'frame') return { offset: start + i, seq };
    }
  }
  return null;
}

/** Why no good frame starts at `offset`, for the report; `end` is where the next good frame starts. */
async function describeDamage(fh: FileHandle, offset: number, end: number, afterSeq: number | null): Promise<string> {
  const wanted = Math.min(FRAME_HEAD_BYTES, end - offset);
  const head = await readRange(fh, offset, wanted);
  if (head.length < wanted) return `the file ends at ${offset + head.length}, short of ${end}`;
  if (head.length < FRAME_HEAD_BYTES) return `${end - offset} stray bytes`;
  const first = checkFrame(head, 0);
  if (first.kind === 'corrupt') return first.reason;
  const size = FRAME_HEAD_BYTES + head.readUInt32LE(0);
  if (offset + size > end) return `length ${size - FRAME_HEAD_BYTES} runs past the next good frame`;
  const bytes = await readRange(fh, offset, size);
  if (bytes.length < size) return `the file ends at ${offset + bytes.length}, short of ${end}`;
  const check = checkFrame(bytes, 0);
  if (check.kind === 'frame') return `seq ${check.frame.seq} does not continue the sequence after ${afterSeq}`;
  return check.kind === 'corrupt' ? check.reason : 'unreadable frame';
}

/**
 * Frames from `from` to `end`. `afterSeq` is the seq of the last entry before `from` when
 * known: a frame that does not continue it is damage, and a gap after it is entries lost.
 */
export async function scanFrames(fh: FileHandle, from: number, end: number, limits: ScanLimits, afterSeq: number | null): Promise<ScanResult> {
  const frames: ScannedFrame[] = [];
  const damage: DamageRegion[] = [];
  let entries = 0;
  let bytes = 0;
  let lastSeq = afterSeq;
  let pos = from;
  let want = Math.min(WINDOW_BYTES, Math.max(MIN_WINDOW_BYTES, limits.maxBytes + Math.ceil(limits.maxBytes / 8) + FRAME_HEAD_BYTES));
  const full = () => entries >= limits.maxRecords || (entries > 0 && bytes >= limits.maxBytes);

  while (pos < end && !full()) {
    const asked = Math.min(want, end - pos);
    const chunk = await readRange(fh, pos, asked);
    if (chunk.length === 0 && asked > 0) {
      // The file ends before `end`: everything from here is gone.
      damage.push({ offset: pos, bytes: end - pos, reason: `the file ends at ${pos}, short of ${end}`, seqBefore: lastSeq, seqAfter: null });
      return { frames, next: end, damage, damagedTailAt: pos, lastSeq };
    }
    let off = 0;
    let damaged = false;
    while (off < chunk.length && !full()) {
      const check = checkFrame(chunk, off);
      if (check.kind === 'frame') {
        const { frame } = check;
        if (!continues(frame.seq, lastSeq)) {
          damaged = true;
          break;
        }
        frames.push({ ...frame, offset: pos + off });
        if (frame.kind !== KIND_LABEL_SET) {
          entries++;
          bytes += frame.payload.length;
          lastSeq = frame.seq;
        }
        off += frame.size;
      } else if (check.kind === 'incomplete' && chunk.length === asked && pos + off + check.needBytes <= end) {
        // The frame is whole on disk but not in this window: read again from its start. A short
        // read means the file ends before `end`: re-reading would loop forever; it is damage.
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
    const reason = await describeDamage(fh, pos, found?.offset ?? end, lastSeq);
    damage.push({ offset: pos, bytes: (found?.offset ?? end) - pos, reason, seqBefore: lastSeq, seqAfter: found?.seq ?? null });
    if (!found) return { frames, next: end, damage, damagedTailAt: pos, lastSeq };
    pos = found.offset;
  }
  return { frames, next: pos, damage, damagedTailAt: null, lastSeq };
}

/**
 * The good frame that ends exactly at `end`, found by looking back from it: the frame whose
 * length field reaches `end` and whose CRC checks out. The frames have no back pointers; this
 * costs about the size of that one frame, and never more than the largest frame written.
 */
export async function frameEndingAt(fh: FileHandle, end: number): Promise<ScannedFrame | null> {
  const lowest = Math.max(HEADER_BYTES, end - MAX_WRITTEN_FRAME_BYTES);
  let window = MIN_WINDOW_BYTES;
  let scannedDownTo = end - FRAME_HEAD_BYTES + 1;
  for (;;) {
    const start = Math.max(lowest, end - window);
    const buf = await readRange(fh, start, end - start);
    if (buf.length < end - start) return null;
    for (let p = Math.min(scannedDownTo - 1, end - FRAME_HEAD_BYTES); p >= start; p--) {
      const i = p - start;
      if (buf.readUInt32LE(i) !== end - p - FRAME_HEAD_BYTES || !plausibleHead(buf, i)) continue;
      const check = checkFrame(buf, i);
      if (check.kind === 'frame') return { ...check.frame, offset: p };
    }
    if (start <= lowest) return null;
    scannedDownTo = start;
    window *= 4;
  }
}
