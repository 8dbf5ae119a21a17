/**
 * Reads a WAL without touching it, for operators' tools that may run beside the service: files
 * are opened read-only, the lock is never taken, nothing is truncated, renamed or written.
 *
 * A running service appends only to its highest segment, creates higher ones and deletes those
 * its persisted cursor has passed. So a snapshot taken in this order stays consistent: the
 * cursor first, then the listing, then each segment's size. The cursor only moves forward and
 * a segment is deleted only once the persisted cursor passed it, so the snapshot's cursor points
 * into a listed segment, or before the oldest one when the service delivered more meanwhile.
 * Sizes only grow (except when a failed write is undone): readers stop at the snapshot's sizes,
 * what is appended afterwards is not read, and a segment deleted meanwhile was delivered.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readCursor, type CursorRead } from './cursor-file.js';
import { readRange, scanFrames } from './frame-scanner.js';
import { FRAME_HEAD_BYTES, HEADER_BYTES, checkFrame, decodeHeader, parseSegmentFileName, segmentFileName, type SegmentHeader } from './segment-format.js';
import { tokenNameOfDir } from './token-dir.js';
import type { WalPosition } from './types.js';

/**
 * The lock holder refreshes the lock's mtime every `wal.lock_stale_seconds / 2` (5 s by
 * default); a minute covers settings up to 120 s, and a lock left by a crash soon looks stale.
 */
const LOCK_FRESH_MS = 60_000;
const SCAN_LIMITS = { maxRecords: 4096, maxBytes: 4 * 1024 * 1024 };
const LEFTOVER = /\.(tmp|damaged)$/;

export interface TokenLocation {
  readonly name: string;
  readonly dir: string;
}

export interface WalLocation {
  readonly root: string;
  readonly tokens: readonly TokenLocation[];
}

export interface SegmentFile {
  readonly segment: number;
  readonly file: string;
  /** The size when the snapshot was taken: readers stop there. */
  readonly bytes: number;
}

export interface TokenSnapshot extends TokenLocation {
  readonly cursor: CursorRead;
  /** Ascending by segment number. */
  readonly segments: readonly SegmentFile[];
  /** `*.tmp` and `*.damaged` files: interrupted writes, and segments set aside at a start. */
  readonly leftovers: readonly string[];
}

export type WalEvent =
  | { readonly kind: 'segment'; readonly segment: number; readonly header: SegmentHeader }
  | { readonly kind: 'bad-header'; readonly segment: number; readonly reason: string }
  /** Deleted after the listing: the running service delivered it. */
  | { readonly kind: 'vanished'; readonly segment: number }
  | {
      readonly kind: 'record';
      readonly segment: number;
      readonly offset: number;
      readonly size: number;
      readonly seq: number;
      readonly appendedAtMs: number;
      readonly payload: Buffer;
    }
  /** Bytes no good frame starts in; `records` lost, from the seq gap, or null when unknown. */
  | { readonly kind: 'corrupt'; readonly segment: number; readonly offset: number; readonly bytes: number; readonly records: number | null; readonly reason: string }
  /** Damage running to the end of the last segment: a crash mid-write, or a write in progress. */
  | { readonly kind: 'torn-tail'; readonly segment: number; readonly offset: number; readonly bytes: number };

function isSegmentLike(name: string): boolean {
  return name === 'cursor.json' || parseSegmentFileName(name.replace(LEFTOVER, '')) !== null;
}

/** Finds the token directories of `dir`, a WAL root or one token directory; a string says why it is neither. */
export async function locateWal(dir: string): Promise<WalLocation | string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `${dir} is not a directory`;
    throw err;
  }
  if (entries.some((e) => e.isFile() && isSegmentLike(e.name))) {
    const name = basename(dir);
    return { root: dirname(dir), tokens: [{ name: tokenNameOfDir(name) ?? name, dir }] };
  }
  const tokens = entries
    .filter((e) => e.isDirectory())
    .flatMap((e) => {
      const name = tokenNameOfDir(e.name);
      return name === null ? [] : [{ name, dir: join(dir, e.name) }];
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (tokens.length === 0 && !entries.some((e) => e.name === '.lock')) return `${dir} is neither a WAL root nor a token directory of one`;
  return { root: dir, tokens };
}

/** Whether a running process holds the root's lock (its lock directory is fresh). */
export async function isLockHeld(root: string, nowMs: number): Promise<boolean> {
  try {
    return nowMs - (await stat(join(root, '.lock'))).mtimeMs < LOCK_FRESH_MS;
  } catch {
    return false;
  }
}

export async function snapshotToken(token: TokenLocation): Promise<TokenSnapshot> {
  const cursor = await readCursor(token.dir);
  const names = await readdir(token.dir);
  const segments: SegmentFile[] = [];
  for (const n of names.map(parseSegmentFileName).filter((n): n is number => n !== null).sort((a, b) => a - b)) {
    const file = join(token.dir, segmentFileName(n));
    try {
      segments.push({ segment: n, file, bytes: (await stat(file)).size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return { ...token, cursor, segments, leftovers: names.filter((n) => LEFTOVER.test(n)).sort() };
}

/** Where delivery resumes, as the service would place it at its next start. */
export function resumePosition(snapshot: TokenSnapshot): WalPosition {
  const first = snapshot.segments[0];
  const last = snapshot.segments.at(-1);
  if (!first || !last) return { segment: 0, offset: HEADER_BYTES };
  const stored = snapshot.cursor.kind === 'ok' ? snapshot.cursor.cursor : null;
  if (!stored || stored.segment < first.segment) return { segment: first.segment, offset: HEADER_BYTES };
  const seg = snapshot.segments.find((s) => s.segment >= stored.segment);
  if (!seg) return { segment: last.segment, offset: last.bytes };
  if (seg.segment !== stored.segment) return { segment: seg.segment, offset: HEADER_BYTES };
  return { segment: seg.segment, offset: Math.min(Math.max(stored.offset, HEADER_BYTES), seg.bytes) };
}

/** Segment bytes from `from` to the end, as the service counts its backlog. */
function bytesFrom(snapshot: TokenSnapshot, from: WalPosition): number {
  let bytes = 0;
  for (const s of snapshot.segments) {
    if (s.segment >= from.segment) bytes += Math.max(0, s.bytes - (s.segment === from.segment ? from.offset : HEADER_BYTES));
  }
  return bytes;
}

/** Why no good frame starts at `offset`; `end` is where the next good frame starts. */
async function describeDamage(fh: FileHandle, offset: number, end: number, lastSeq: number): Promise<string> {
  const head = await readRange(fh, offset, Math.min(FRAME_HEAD_BYTES, end - offset));
  if (head.length < FRAME_HEAD_BYTES) return `${end - offset} stray bytes`;
  const first = checkFrame(head, 0);
  if (first.kind === 'corrupt') return first.reason;
  const size = FRAME_HEAD_BYTES + head.readUInt32LE(0);
  if (offset + size > end) return `length ${size - FRAME_HEAD_BYTES} runs past the next good frame`;
  const check = checkFrame(await readRange(fh, offset, size), 0);
  if (check.kind === 'frame') return `seq ${check.frame.seq} does not continue the sequence after ${lastSeq}`;
  return check.kind === 'corrupt' ? check.reason : 'unreadable frame';
}

/**
 * Every segment header, record and damaged region from `from` to the snapshot's end, in order.
 * Scanning resynchronises after damage as the service's reader does, so what is reported as
 * lost is what delivery would lose.
 */
export async function* walkRecords(snapshot: TokenSnapshot, from: WalPosition): AsyncGenerator<WalEvent> {
  const last = snapshot.segments.at(-1);
  for (const seg of snapshot.segments) {
    if (seg.segment < from.segment) continue;
    let fh;
    try {
      fh = await open(seg.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      yield { kind: 'vanished', segment: seg.segment };
      continue;
    }
    try {
      const header = decodeHeader(await readRange(fh, 0, HEADER_BYTES));
      if (typeof header === 'string' || header.segment !== seg.segment) {
        yield { kind: 'bad-header', segment: seg.segment, reason: typeof header === 'string' ? header : `header names segment ${header.segment}` };
        continue;
      }
      yield { kind: 'segment', segment: seg.segment, header };
      const startsMidway = seg.segment === from.segment && from.offset > HEADER_BYTES;
      let expected = startsMidway ? from.offset : HEADER_BYTES;
      let lastSeq = header.firstSeq - 1;
      let seqKnown = !startsMidway;
      let scanFrom = expected;
      while (scanFrom < seg.bytes) {
        const r = await scanFrames(fh, scanFrom, seg.bytes, SCAN_LIMITS, lastSeq);
        for (const f of r.frames) {
          if (f.offset > expected) {
            const reason = await describeDamage(fh, expected, f.offset, lastSeq);
            yield { kind: 'corrupt', segment: seg.segment, offset: expected, bytes: f.offset - expected, records: seqKnown ? Math.max(1, f.seq - lastSeq - 1) : null, reason };
          }
          yield { kind: 'record', segment: seg.segment, offset: f.offset, size: f.size, seq: f.seq, appendedAtMs: f.appendedAtMs, payload: f.payload };
          expected = f.offset + f.size;
          lastSeq = f.seq;
          seqKnown = true;
        }
        if (r.damagedTailAt !== null) {
          const bytes = seg.bytes - r.damagedTailAt;
          if (seg === last) yield { kind: 'torn-tail', segment: seg.segment, offset: r.damagedTailAt, bytes };
          else yield { kind: 'corrupt', segment: seg.segment, offset: r.damagedTailAt, bytes, records: null, reason: await describeDamage(fh, r.damagedTailAt, seg.bytes, lastSeq) };
          break;
        }
        if (r.next <= scanFrom && r.frames.length === 0) break;
        scanFrom = r.next;
      }
    } finally {
      await fh.close();
    }
  }
}

export interface Backlog {
  /** Where delivery resumes. */
  readonly from: WalPosition;
  readonly entries: number;
  readonly bytes: number;
  readonly oldestAppendedAtMs: number | null;
  /** Records lost to damage between the cursor and the end. */
  readonly corruptRecords: number;
}

/** What is not yet delivered: every record after the cursor, read and checked. */
export async function backlogOf(snapshot: TokenSnapshot): Promise<Backlog> {
  const from = resumePosition(snapshot);
  let entries = 0;
  let corruptRecords = 0;
  let oldestAppendedAtMs: number | null = null;
  for await (const e of walkRecords(snapshot, from)) {
    if (e.kind === 'record') {
      entries++;
      oldestAppendedAtMs ??= e.appendedAtMs;
    } else if (e.kind === 'corrupt') {
      corruptRecords += e.records ?? 1;
    }
  }
  return { from, entries, bytes: bytesFrom(snapshot, from), oldestAppendedAtMs, corruptRecords };
}
