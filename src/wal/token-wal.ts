/**
 * One token's WAL on disk: a directory of segment files and a cursor.
 *
 * Invariants this file keeps:
 * - A promise returned by `append` resolves only after the fsync that covers its records
 *   (unless `sync` is off), and concurrent appends share that fsync (group commit).
 * - Everything before `durableEnd` is complete, CRC-checked frames; readers never look past it.
 * - A failed write is truncated away before anyone is told; a failed fsync fails the WAL,
 *   because after fsync reports an error the page cache can no longer be trusted.
 * - Records are the truth, metadata a hint: the cursor is used only when the records agree with
 *   it (cursor-check.ts), and a segment is deleted only when such a cursor, or the cursor this
 *   process wrote, has passed it. Seqs never go back: a new one is above every seq on disk.
 * - The cursor is persisted before any segment it passed is deleted, so a crash between the
 *   two leaves a segment that is deleted at the next open, never a cursor that points nowhere.
 * - A segment file appears under its final name only with a complete, fsync'd header.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { logstackError } from '../errors.js';
import type { AppendBatch } from './append-batch.js';
import { resumeOf } from './cursor-check.js';
import { CursorFile, type DurableEnd, type StoredCursor } from './cursor-file.js';
import type { FrameBuffers } from './frame-buffers.js';
import { frameEndingAt, readRange, scanFrames } from './frame-scanner.js';
import { fsyncDir } from './fs-sync.js';
import { frameGroup, groupBytesBound } from './group-frames.js';
import { LabelSetReader, SegmentLabelTable } from './label-sets.js';
import { comparePositions } from './position.js';
import { readRecords } from './segment-reader.js';
import {
  FORMAT_VERSION,
  HEADER_BYTES,
  KIND_LABEL_SET,
  MAX_U48,
  checkFrame,
  encodeHeader,
  newWalId,
  segmentFileName,
} from './segment-format.js';
import { keepCopy, setAside } from './set-aside.js';
import { judgeSurveyedCursor, surveyTokenDir, surveyed, type SegmentFile } from './token-dir-survey.js';
import type { AppendResult, DamageNote, ReadLimits, ReadPlan, TokenWal, TokenWalStats, WalObserver, WalPosition, WalReadResult } from './types.js';

export interface TokenWalOptions {
  readonly name: string;
  readonly dir: string;
  readonly segmentMaxBytes: number;
  readonly segmentMaxAgeMs: number;
  readonly quotaBytes: number;
  readonly sync: boolean;
  readonly observer: WalObserver;
  readonly clock: () => number;
  /** The WAL volume's free space above its reserve: `check` and `claim` throw WAL_DISK_RESERVE. */
  readonly disk: { roomBytes(): number; check(bytes: number): void; claim(bytes: number): void };
  /** Where append groups are framed; shared by the store's token WALs. */
  readonly frameBuffers: FrameBuffers;
}

interface Segment {
  readonly segment: number;
  readonly createdAtMs: number;
  size: number;
  sealed: boolean;
}

interface PendingAppend {
  readonly batch: AppendBatch;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: Error) => void;
}

/** Once the active segment is fully delivered and this large, it is rotated so it can be deleted. */
const RECLAIM_FRACTION = 8;
const TAIL_SCAN_LIMITS = { maxRecords: 65536, maxBytes: 16 * 1024 * 1024 };
/** What is read to find the oldest pending entry: its frame, and the label sets before it mostly. */
const OLDEST_WINDOW_BYTES = 4096;

/** A small promise mutex: the writer and rotation take turns on the active segment. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => {});
    return result;
  }
}

function rejectAll(group: readonly PendingAppend[], err: Error): void {
  for (const g of group) g.reject(err);
}

/** The file system refused a write: permissions, an immutable file, a read-only volume. */
function isRefusedWrite(err: unknown): boolean {
  const { code } = err as NodeJS.ErrnoException;
  return code === 'EPERM' || code === 'EACCES' || code === 'EROFS';
}

/** An error that says what failed, with the file system's code and the original as its cause. */
function described(err: unknown, what: string): Error {
  const { code, syscall } = err as NodeJS.ErrnoException;
  return Object.assign(new Error(`${what} (${code ?? 'EIO'})`, { cause: err }), { code, syscall });
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

export class DiskTokenWal implements TokenWal {
  readonly name: string;
  readonly #opts: TokenWalOptions;
  /** Ascending by segment number; the last one is the active segment. */
  #segments: Segment[] = [];
  #active!: Segment;
  #writeHandle: FileHandle | null = null;
  readonly #readHandles = new Map<number, FileHandle>();
  readonly #labelTable = new SegmentLabelTable();
  readonly #cursorFile: CursorFile;
  #lastSeq = 0;
  /** Damaged bytes cut from the last segment at open and kept, when they lay before the recorded durable end. */
  #cutAside: { readonly file: string; readonly bytes: number } | null = null;
  /** Written in every segment header and cursor (segment-format.ts); set at open. */
  #walId: string | null = null;
  #cursor: StoredCursor = { segment: 0, offset: HEADER_BYTES, ackedSeq: 0 };
  /** seq of the last entry before the cursor, when known; see ReadPlan.afterSeq. */
  #cursorAfterSeq: number | null = 0;
  #durableEnd: WalPosition = { segment: 0, offset: HEADER_BYTES };
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #draining: Promise<void> | null = null;
  readonly #writer = new Mutex();
  readonly #acker = new Mutex();
  #waiters: Array<() => void> = [];
  #failed: string | null = null;
  #cursorWriteFailed: string | null = null;
  #closed = false;
  /** open() completed: there is a WAL whose end a clean stop records. */
  #opened = false;
  #corrupt = 0;
  /**
   * Per segment, damage that reading resumed from at or before this offset was counted already:
   * re-reads (a retried push, a read after the lane stepped over damage) must not count it again.
   */
  readonly #damageSeenTo = new Map<number, number>();
  #oldestPendingAtMs: number | null = null;
  /** From the options, then from each configuration reload. */
  #quotaBytes: number;

  constructor(opts: TokenWalOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#cursorFile = new CursorFile(opts.dir);
    this.#quotaBytes = opts.quotaBytes;
  }

  /** The quota of appends admitted from now on; what is in the WAL already stays. */
  setQuotaBytes(bytes: number): void {
    this.#quotaBytes = bytes;
  }

  get cursor(): WalPosition {
    return { segment: this.#cursor.segment, offset: this.#cursor.offset };
  }

  get cursorAfterSeq(): number | null {
    return this.#cursorAfterSeq;
  }

  get durableEnd(): WalPosition {
    return this.#durableEnd;
  }

  // --- recovery --------------------------------------------------------------------------------

  /** Opens the directory: sorts out its files, checks the cursor, truncates a torn tail. */
  async open(): Promise<void> {
    const { dir, observer, name } = this.#opts;
    await mkdir(dir, { recursive: true });
    const survey = await surveyTokenDir(dir);
    for (const leftover of survey.leftovers) await rm(join(dir, leftover), { force: true });
    for (const { name: file, reason } of survey.setAside) observer.setAside?.(name, file, reason);
    for (const { name: file, reason } of survey.inTheWay) observer.renamedAside?.(name, file, await setAside(dir, file), reason);
    for (const { segment, reason } of survey.overlapping) {
      const file = segmentFileName(segment.segment);
      observer.renamedAside?.(name, file, await setAside(dir, file), reason);
    }

    const judgement = await judgeSurveyedCursor(survey);
    const trusted = judgement?.kind === 'trusted' ? judgement : null;
    if (survey.cursor.kind === 'invalid') observer.cursorReset?.(name, `the cursor file is unreadable: ${survey.cursor.reason}`);
    if (judgement?.kind === 'distrusted') observer.cursorReset?.(name, `the cursor does not agree with the segments: ${judgement.reason}`);
    if (trusted?.unseen) observer.damage?.(name, { entries: 0, segment: trusted.resumeAt.segment, offset: 0, bytes: 0, reason: `the cursor points before the oldest segment; ${trusted.unseen}` });

    let deleted = false;
    const kept: SegmentFile[] = [];
    for (const s of survey.segments) {
      if (trusted && s.segment < trusted.resumeAt.segment) {
        // Delivered: a cursor consistent with the segments was persisted past it, and the
        // deletion did not happen before a crash.
        await rm(s.file, { force: true });
        deleted = true;
      } else {
        kept.push(s);
      }
    }
    if (deleted) await fsyncDir(dir);
    for (const s of kept) {
      if (s.headerError !== null) observer.damage?.(name, { entries: 0, segment: s.segment, offset: 0, bytes: Math.min(s.bytes, HEADER_BYTES), reason: `bad header (${s.headerError}); its records are read all the same` });
    }
    this.#segments = kept.map((s) => ({ segment: s.segment, createdAtMs: s.header?.createdAtMs ?? this.#opts.clock(), size: s.bytes, sealed: true }));

    const last = kept.at(-1);
    // Above every seq on disk, whichever segment holds it: new appends never reuse one.
    let lastSeq = Math.max(trusted?.afterSeq ?? 0, ...kept.map((s) => s.lastSeq ?? (s.firstSeq ?? 1) - 1));
    // Recorded with a cursor that agrees with the segments: what was durable, and acknowledged, then.
    const end = trusted && survey.cursor.kind === 'ok' ? survey.cursor.durableEnd : undefined;
    if (last) {
      const from = trusted && trusted.resumeAt.segment === last.segment ? trusted.resumeAt.offset : HEADER_BYTES;
      const tail = this.#segments.at(-1)!;
      const tailSeq = await this.#recoverTail(tail, from, end?.segment === last.segment ? end.offset : null);
      lastSeq = Math.max(lastSeq, tailSeq ?? (await this.#lastSeqBefore(kept.length - 1, kept)) ?? 0, (last.header?.firstSeq ?? 1) - 1);
      if (end && end.lastSeq > lastSeq) {
        // Entries acknowledged before the last stop are gone from the end of the WAL: counted here,
        // once; the reader meets the same gap at the durable end and knows it is counted.
        const lost = end.lastSeq - lastSeq;
        const cut = this.#cutAside;
        observer.damage?.(name, {
          entries: lost,
          segment: tail.segment,
          offset: tail.size,
          bytes: cut?.bytes ?? 0,
          reason: `entries ${lastSeq + 1}-${end.lastSeq} were acknowledged and are not on disk: the WAL ended at segment ${end.segment} offset ${end.offset} when the cursor was last written${cut ? `; the ${cut.bytes} bytes cut are kept in ${cut.file}` : ''}`,
        });
        this.#corrupt += lost;
        this.#damageSeenTo.set(tail.segment, tail.size);
        lastSeq = end.lastSeq;
      }
    }
    this.#lastSeq = lastSeq;
    this.#walId = survey.walId ?? (survey.cursor.kind === 'ok' ? survey.cursor.walId : null) ?? newWalId(randomBytes);
    this.#cursorFile.setWalId(this.#walId);

    // Appends go to a segment of this version with a good header and room, or to a new one.
    const reusable = last && last.header?.version === FORMAT_VERSION && last.header.firstSeq <= lastSeq + 1 && this.#segments.at(-1)!.size < this.#opts.segmentMaxBytes;
    let handle: FileHandle | null = null;
    let refused: unknown = null;
    if (reusable) {
      try {
        handle = await open(join(dir, segmentFileName(last.segment)), 'r+');
      } catch (err) {
        // Made read-only or immutable (restored from a backup): sealed, read all the same, and
        // appends go to a new segment; its records are never the reason the key is down.
        if (!isRefusedWrite(err)) throw err;
        refused = err;
      }
    }
    if (handle) this.#segments.at(-1)!.sealed = false;
    else this.#segments.push(await this.#createSegment(this.#nextSegmentNumber(last?.segment ?? 0), lastSeq + 1));
    // Reported once a new segment took its place: a folder that cannot be written at all fails above, once.
    if (refused) observer.writeFailed?.(name, described(refused, `segment ${last!.segment} cannot be written; it is sealed and appends go to a new segment`));
    this.#active = this.#segments.at(-1)!;
    handle ??= await open(join(dir, segmentFileName(this.#active.segment)), 'r+');
    this.#writeHandle = handle;
    this.#durableEnd = { segment: this.#active.segment, offset: this.#active.size };

    // With no segment on disk, resumeOf's start is segment 1: the one just made.
    const resume = resumeOf(survey.cursor, judgement, kept[0] && surveyed(kept[0]));
    this.#cursor = this.#advancePastSealedEnd({ ...resume.at, ackedSeq: resume.ackedSeq });
    this.#cursorAfterSeq = resume.afterSeq;
    try {
      await this.#cursorFile.prepare(survey.cursor);
    } catch (err) {
      // The first cursor write makes the file then; until it can, the cursor lives in memory.
      this.#cursorWriteFailed = `the cursor file could not be made (${errno(err)})`;
      observer.writeFailed?.(name, err as Error);
    }
    this.#oldestPendingAtMs = (await this.#oldestPendingAt(this.#cursor)) ?? null;
    this.#opened = true;
  }

  #nextSegmentNumber(after: number): number {
    if (after >= MAX_U48) throw logstackError('WAL_UNAVAILABLE', [this.name, 'segment numbers are exhausted'], { retryAfterSeconds: 30 });
    return after + 1;
  }

  /**
   * The seq of the last entry in the segments before index `index`, looked for from the newest:
   * from the frame ending each segment, or a scan of it when damage hides that frame.
   */
  async #lastSeqBefore(index: number, segments: readonly SegmentFile[]): Promise<number | null> {
    for (let i = index - 1; i >= 0; i--) {
      const s = segments[i]!;
      const fh = await open(s.file, 'r');
      try {
        const end = await frameEndingAt(fh, s.bytes);
        if (end) return end.kind === KIND_LABEL_SET ? end.seq - 1 : end.seq;
        let pos = HEADER_BYTES;
        let seq: number | null = null;
        for (;;) {
          const r = await scanFrames(fh, pos, s.bytes, TAIL_SCAN_LIMITS, seq);
          seq = r.lastSeq;
          if (r.next >= s.bytes || r.next <= pos) break;
          pos = r.next;
        }
        if (seq !== null) return seq;
      } finally {
        await fh.close();
      }
    }
    return null;
  }

  /**
   * Scans the last segment from `from` to its end; truncates what follows the last good frame
   * when no good frame follows it (a torn tail: a group a crash cut, never acknowledged).
   * Returns the last entry seq seen. Seqs are taken from the frames, never from the cursor.
   */
  async #recoverTail(segment: Segment, from: number, durableEnd: number | null): Promise<number | null> {
    const { dir, observer, name } = this.#opts;
    const file = join(dir, segmentFileName(segment.segment));
    // Read-only: a segment that cannot be written is read all the same, and only a cut needs writing.
    const fh = await open(file, 'r');
    try {
      let pos = from;
      let seq: number | null = null;
      for (;;) {
        const r = await scanFrames(fh, pos, segment.size, TAIL_SCAN_LIMITS, seq);
        seq = r.lastSeq;
        if (r.damagedTailAt !== null) {
          let writable;
          try {
            writable = await open(file, 'r+');
          } catch (err) {
            if (!isRefusedWrite(err)) throw err;
            // Left as it is: the reader stops at the damage, and appends go to a new segment.
            observer.writeFailed?.(name, described(err, `the torn tail of segment ${segment.segment} cannot be cut (${segment.size - r.damagedTailAt} bytes at offset ${r.damagedTailAt})`));
            return seq;
          }
          try {
            if (durableEnd !== null && r.damagedTailAt < durableEnd) {
              // Before where the WAL was known to end: acknowledged bytes, damaged. Kept, never only cut.
              const bytes = await readRange(fh, r.damagedTailAt, segment.size - r.damagedTailAt);
              this.#cutAside = { file: await keepCopy(dir, segmentFileName(segment.segment), `.cut-${r.damagedTailAt}.damaged`, bytes), bytes: bytes.length };
            } else {
              observer.tornTail?.(name, segment.segment, segment.size - r.damagedTailAt);
            }
            await writable.truncate(r.damagedTailAt);
            await writable.sync();
          } finally {
            await writable.close();
          }
          segment.size = r.damagedTailAt;
          return seq;
        }
        if (r.next >= segment.size || r.next <= pos) return seq;
        pos = r.next;
      }
    } finally {
      await fh.close();
    }
  }

  /** The end of a sealed segment is the start of the next one. */
  #advancePastSealedEnd<P extends WalPosition>(pos: P): P {
    let p = pos;
    for (;;) {
      const index = this.#segments.findIndex((s) => s.segment === p.segment);
      const seg = this.#segments[index];
      const next = this.#segments[index + 1];
      if (!seg || !seg.sealed || !next || p.offset < seg.size) return p;
      p = { ...p, segment: next.segment, offset: HEADER_BYTES };
    }
  }

  // --- appending -------------------------------------------------------------------------------

  #refusal(bytes: number): Error | null {
    if (this.#closed) return logstackError('WAL_NOT_OPEN', ['closing']);
    if (this.#failed) return logstackError('WAL_UNAVAILABLE', [this.name, this.#failed], { retryAfterSeconds: 30 });
    const used = this.#pendingBytes() + this.#queuedBytes;
    if (used + bytes > this.#quotaBytes) return logstackError('WAL_QUOTA_EXCEEDED', [this.name, used, this.#quotaBytes], { retryAfterSeconds: 30 });
    try {
      this.#opts.disk.check(bytes);
    } catch (err) {
      return err as Error;
    }
    return null;
  }

  roomBytes(): number {
    if (this.#closed || this.#failed) return 0;
    return Math.max(0, Math.min(this.#quotaBytes - this.#pendingBytes() - this.#queuedBytes, this.#opts.disk.roomBytes()));
  }

  admit(bytes: number): void {
    const refusal = this.#refusal(bytes);
    if (refusal) throw refusal;
  }

  append(batch: AppendBatch): Promise<AppendResult> {
    if (batch.entries === 0) throw new TypeError('append needs at least one entry');
    const bytes = batch.walBytes;
    const refusal = this.#refusal(bytes);
    if (refusal) return Promise.reject(refusal);
    try {
      this.#opts.disk.claim(bytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ batch, resolve, reject });
      this.#queuedBytes += bytes;
      this.#draining ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue;
        this.#queue = [];
        await this.#writer.run(() => this.#writeGroup(group));
        for (const g of group) this.#queuedBytes -= g.batch.walBytes;
      }
    } finally {
      // In the same step as the last look at the queue: an append made after it starts a new
      // drain. Cleared a step later (in a .finally), an append in between was left queued with
      // no drain until the next append came.
      this.#draining = null;
    }
  }

  async #writeGroup(group: PendingAppend[]): Promise<void> {
    const fail = (err: Error) => rejectAll(group, err);
    if (this.#failed) return fail(logstackError('WAL_UNAVAILABLE', [this.name, this.#failed], { retryAfterSeconds: 30 }));
    const now = this.#opts.clock();
    const batches = group.map((g) => g.batch);
    const bound = groupBytesBound(batches);
    try {
      if (this.#active.size > HEADER_BYTES && (this.#active.size + bound > this.#opts.segmentMaxBytes || now - this.#active.createdAtMs >= this.#opts.segmentMaxAgeMs)) {
        await this.#rotateLocked();
      }
    } catch (err) {
      // Nothing of the group was written; the next group tries the rotation again.
      this.#opts.observer.writeFailed?.(this.name, err as Error);
      return fail(logstackError('WAL_UNAVAILABLE', [this.name, `rotation failed (${errno(err)})`], { cause: err, retryAfterSeconds: 5 }));
    }

    let entries = 0;
    for (const b of batches) entries += b.entries;
    // Seqs are 48-bit fields; only a crafted header or cursor gets near the end of them.
    if (this.#lastSeq + entries > MAX_U48) return fail(logstackError('WAL_UNAVAILABLE', [this.name, 'its seqs are exhausted'], { retryAfterSeconds: 30 }));
    const buffer = this.#opts.frameBuffers.acquire(bound);
    try {
      let framed;
      try {
        framed = frameGroup(batches, this.#labelTable, { offset: this.#active.size, firstSeq: this.#lastSeq + 1, nowMs: now }, buffer);
      } catch (err) {
        // A bug, not the disk: the appends are answered all the same, never left waiting.
        return fail(err as Error);
      }
      if (!(await this.#writeFrames(group, framed.frames, now))) return;
      for (const w of framed.written) this.#labelTable.add(w.labels, w.bytes, w.place);
    } finally {
      this.#opts.frameBuffers.release(buffer);
    }
  }

  /** Writes and syncs the group's frames, then answers its appends; false when it failed. */
  async #writeFrames(group: PendingAppend[], frames: Buffer, now: number): Promise<boolean> {
    const fail = (err: Error) => {
      rejectAll(group, err);
      return false;
    };
    const fh = this.#writeHandle!;
    const at = this.#active.size;
    try {
      let written = 0;
      while (written < frames.length) {
        const { bytesWritten } = await fh.write(frames, written, frames.length - written, at + written);
        written += bytesWritten;
      }
    } catch (err) {
      // Leave no half record behind: cut the file back to where this group began.
      try {
        await fh.truncate(at);
      } catch (truncErr) {
        return fail(this.#fail('write failed and could not be undone', truncErr as Error));
      }
      this.#opts.observer.writeFailed?.(this.name, err as Error);
      return fail(logstackError('WAL_UNAVAILABLE', [this.name, `write failed (${errno(err)})`], { cause: err, retryAfterSeconds: 5 }));
    }
    if (this.#opts.sync) {
      const started = process.hrtime.bigint();
      try {
        await fh.datasync();
      } catch (err) {
        return fail(this.#fail('fsync failed', err as Error));
      }
      this.#opts.observer.fsync?.(Number(process.hrtime.bigint() - started) / 1e9);
    }

    if (this.#lastSeq === this.#cursor.ackedSeq) this.#oldestPendingAtMs = now;
    this.#active.size = at + frames.length;
    this.#durableEnd = { segment: this.#active.segment, offset: this.#active.size };
    let seq = this.#lastSeq + 1;
    for (const g of group) {
      g.resolve({ firstSeq: seq, lastSeq: seq + g.batch.entries - 1 });
      seq += g.batch.entries;
    }
    this.#lastSeq = seq - 1;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
    return true;
  }

  #fail(what: string, err: Error): Error {
    // The errno code only: an error's message may name a path, and this text reaches clients.
    this.#failed = `${what}: ${errno(err)}`;
    this.#opts.observer.writeFailed?.(this.name, err);
    return logstackError('WAL_UNAVAILABLE', [this.name, this.#failed], { cause: err, retryAfterSeconds: 30 });
  }

  async #createSegment(segment: number, firstSeq: number): Promise<Segment> {
    const { dir } = this.#opts;
    const createdAtMs = this.#opts.clock();
    const file = join(dir, segmentFileName(segment));
    const temp = `${file}.tmp`;
    // Never through a link someone left under the temp file's name.
    const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      await fh.writeFile(encodeHeader({ segment, createdAtMs, firstSeq, walId: this.#walId }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
    await fsyncDir(dir);
    return { segment, createdAtMs, size: HEADER_BYTES, sealed: false };
  }

  async #rotateLocked(): Promise<void> {
    const next = await this.#createSegment(this.#nextSegmentNumber(this.#active.segment), this.#lastSeq + 1);
    const handle = await open(join(this.#opts.dir, segmentFileName(next.segment)), 'r+');
    await this.#writeHandle?.close();
    // One synchronous step, no await inside: a reader or an ack in between would see a sealed
    // segment while the durable end still lay in it, and an ack at its end normalised to the
    // next segment would be refused as beyond the durable end (found by the crash fixture).
    this.#writeHandle = handle;
    this.#active.sealed = true;
    this.#segments.push(next);
    this.#active = next;
    this.#labelTable.clear();
    this.#durableEnd = { segment: next.segment, offset: next.size };
    this.#opts.observer.segmentRotated?.(this.name, next.segment);
  }

  async rotate(): Promise<void> {
    if (this.#closed || this.#failed) return;
    try {
      await this.#writer.run(async () => {
        if (this.#active.size > HEADER_BYTES) await this.#rotateLocked();
      });
      await this.#acker.run(async () => {
        if (comparePositions(this.#advancePastSealedEnd(this.#cursor), this.#cursor) > 0) await this.#persistCursor(this.#cursor);
      });
    } catch (err) {
      // Sealing only lets delivered data be deleted sooner; the active segment is delivered all
      // the same, and the next append retries the rotation (and answers 503 if it fails again).
      this.#opts.observer.writeFailed?.(this.name, err as Error);
    }
  }

  /** Rotates an active segment older than the age limit; called by the store's timer. */
  async rotateIfOld(): Promise<void> {
    if (this.#active.size > HEADER_BYTES && this.#opts.clock() - this.#active.createdAtMs >= this.#opts.segmentMaxAgeMs) await this.rotate();
  }

  // --- reading ---------------------------------------------------------------------------------

  async #readHandle(segment: number): Promise<FileHandle> {
    let fh = this.#readHandles.get(segment);
    if (!fh) {
      fh = await open(join(this.#opts.dir, segmentFileName(segment)), 'r');
      this.#readHandles.set(segment, fh);
    }
    return fh;
  }

  #startOf(pos: WalPosition): WalPosition {
    const first = this.#segments[0]!;
    if (pos.segment < first.segment) return { segment: first.segment, offset: HEADER_BYTES };
    const seg = this.#segments.find((s) => s.segment >= pos.segment);
    if (!seg) return this.#durableEnd;
    if (seg.segment !== pos.segment) return { segment: seg.segment, offset: HEADER_BYTES };
    return this.#advancePastSealedEnd({ segment: seg.segment, offset: Math.max(pos.offset, HEADER_BYTES) });
  }

  planRead(from: WalPosition, afterSeq: number | null): ReadPlan {
    const start = this.#startOf(from);
    const segments = [];
    for (const s of this.#segments) {
      if (s.segment < start.segment) continue;
      segments.push({ segment: s.segment, end: s === this.#active ? this.#durableEnd.offset : s.size });
    }
    return { dir: this.#opts.dir, start, afterSeq, segments, lastSeq: this.#lastSeq };
  }

  async read(from: WalPosition, limits: ReadLimits, afterSeq?: number | null): Promise<WalReadResult> {
    if (this.#closed) throw logstackError('WAL_NOT_OPEN', ['closed']);
    const atCursor = comparePositions(from, this.#cursor) === 0;
    const plan = this.planRead(from, afterSeq === undefined ? (atCursor ? this.#cursorAfterSeq : null) : afterSeq);
    const { records, next, coveredSeq, damage } = await readRecords(
      plan,
      limits,
      async (segment) => ({ fh: await this.#readHandle(segment), release: async () => {} }),
      // Per read: delivery reads on its own thread, with its own cache; nothing is kept here per token.
      new LabelSetReader(),
    );
    this.noteDamage(damage);
    return { records, next, coveredSeq, damage };
  }

  noteDamage(notes: readonly DamageNote[]): void {
    for (const note of notes) {
      const { resumedAt } = note;
      if (resumedAt.offset <= (this.#damageSeenTo.get(resumedAt.segment) ?? 0)) continue;
      this.#damageSeenTo.set(resumedAt.segment, resumedAt.offset);
      this.#corrupt += note.entries;
      this.#opts.observer.damage?.(this.name, { entries: note.entries, segment: note.at.segment, offset: note.at.offset, bytes: note.bytes, reason: note.reason });
    }
  }

  waitForData(from: WalPosition, signal?: AbortSignal): Promise<void> {
    if (comparePositions(this.#startOf(from), this.#durableEnd) < 0 || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      };
      this.#waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  // --- acknowledging ---------------------------------------------------------------------------

  ack(to: WalPosition, ackedSeq: number): Promise<void> {
    return this.#acker
      .run(async () => {
        const target = this.#advancePastSealedEnd({ segment: to.segment, offset: to.offset, ackedSeq: Math.min(this.#lastSeq, Math.max(ackedSeq, this.#cursor.ackedSeq)) });
        if (comparePositions(target, this.#cursor) < 0) throw new TypeError(`ack moves the cursor of ${this.name} backwards`);
        if (comparePositions(target, this.#durableEnd) > 0) throw new TypeError(`ack beyond the durable end of ${this.name}`);
        await this.#persistCursor(target);
      })
      .then(() => this.#reclaimDrainedActive());
  }

  async #persistCursor(target: StoredCursor): Promise<void> {
    const cursor = this.#advancePastSealedEnd(target);
    try {
      await this.#cursorFile.write(cursor, this.#durableEndRecord());
    } catch (err) {
      // The previous cursor stays on disk, so what this one covered is delivered again after a
      // restart, never skipped; and the segments it passed stay until a write succeeds.
      this.#cursorWriteFailed = `the cursor could not be written (${errno(err)}); delivered segments are kept until it can`;
      this.#opts.observer.writeFailed?.(this.name, err as Error);
      throw err;
    }
    this.#cursorWriteFailed = null;
    await this.#deletePassed(cursor.segment);
    // The cursor and what derives from it change in one step, once the deletes are done: stats
    // never show a cursor past every entry beside an oldest pending one or a delivered segment.
    const oldest = await this.#oldestPendingAt(cursor);
    this.#cursor = cursor;
    this.#cursorAfterSeq = cursor.ackedSeq;
    if (oldest !== undefined) this.#oldestPendingAtMs = oldest;
  }

  /**
   * Deletes the segments the persisted cursor has passed. One that cannot be deleted now (a
   * read-only volume) stays listed and is tried again at the next acknowledgement, or at the
   * next start: the cursor on disk agrees with the segments, so the start deletes it.
   */
  async #deletePassed(cursorSegment: number): Promise<void> {
    const gone = this.#segments.filter((s) => s.segment < cursorSegment);
    if (gone.length === 0) return;
    let deleted = 0;
    try {
      for (const s of gone) {
        await this.#readHandles.get(s.segment)?.close();
        this.#readHandles.delete(s.segment);
        // unlink, not rm: rm takes a refusal (EPERM on an immutable file) for a folder and reports
        // its failure to list it (ENOTDIR scandir), which says nothing of what failed.
        await unlink(join(this.#opts.dir, segmentFileName(s.segment))).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw described(err, `the delivered segment ${s.segment} cannot be deleted; tried again at the next acknowledgement`);
        });
        this.#segments = this.#segments.filter((x) => x !== s);
        this.#damageSeenTo.delete(s.segment);
        deleted++;
        this.#opts.observer.segmentDeleted?.(this.name, s.segment);
      }
    } catch (err) {
      this.#opts.observer.writeFailed?.(this.name, err as Error);
    }
    if (deleted > 0) await fsyncDir(this.#opts.dir).catch((err: Error) => this.#opts.observer.writeFailed?.(this.name, err));
  }

  /** A fully delivered active segment past a size is rotated, so its disk space comes back. */
  async #reclaimDrainedActive(): Promise<void> {
    const drained = this.#cursor.segment === this.#active.segment && this.#cursor.offset >= this.#active.size && this.#queue.length === 0;
    if (drained && this.#active.size >= this.#opts.segmentMaxBytes / RECLAIM_FRACTION) await this.rotate();
  }

  /**
   * When the first entry at `cursor` was appended, read from the frames there (label sets before
   * it are stepped over); null when nothing is pending, undefined when the frames there are
   * damaged (the previous estimate is kept rather than a nonsense time reported).
   */
  async #oldestPendingAt(cursor: StoredCursor): Promise<number | null | undefined> {
    const pos = this.#startOf(cursor);
    if (cursor.ackedSeq >= this.#lastSeq || comparePositions(pos, this.#durableEnd) >= 0) return null;
    const seg = this.#segments.find((s) => s.segment === pos.segment);
    const end = seg === this.#active ? this.#durableEnd.offset : (seg?.size ?? pos.offset);
    const fh = await this.#readHandle(pos.segment);
    let window = await readRange(fh, pos.offset, Math.min(OLDEST_WINDOW_BYTES, end - pos.offset));
    let base = pos.offset;
    for (let o = 0; ; ) {
      const check = checkFrame(window, o);
      if (check.kind === 'corrupt') return undefined;
      if (check.kind === 'incomplete') {
        if (base + o + check.needBytes > end) return undefined;
        base += o;
        o = 0;
        window = await readRange(fh, base, Math.max(check.needBytes, Math.min(OLDEST_WINDOW_BYTES, end - base)));
        if (window.length < check.needBytes) return undefined;
        continue;
      }
      if (check.frame.kind !== KIND_LABEL_SET) return check.frame.appendedAtMs;
      o += check.frame.size;
    }
  }

  // --- reporting and closing -------------------------------------------------------------------

  #pendingBytes(): number {
    let bytes = 0;
    for (const s of this.#segments) {
      if (s.segment < this.#cursor.segment) continue;
      bytes += Math.max(0, s.size - (s.segment === this.#cursor.segment ? this.#cursor.offset : HEADER_BYTES));
    }
    return bytes;
  }

  stats(): TokenWalStats {
    let diskBytes = 0;
    for (const s of this.#segments) diskBytes += s.size;
    return {
      name: this.name,
      segments: this.#segments.length,
      diskBytes,
      quotaBytes: this.#quotaBytes,
      pendingEntries: Math.max(0, this.#lastSeq - this.#cursor.ackedSeq),
      pendingBytes: this.#pendingBytes(),
      oldestPendingAppendedAtMs: this.#oldestPendingAtMs,
      lastSeq: this.#lastSeq,
      ackedSeq: this.#cursor.ackedSeq,
      corruptRecords: this.#corrupt,
      failed: this.#failed,
      cursorWriteFailed: this.#cursorWriteFailed,
      unavailable: false,
    };
  }

  /** Where the durable records end now, recorded with the cursor. */
  #durableEndRecord(): DurableEnd {
    return { segment: this.#durableEnd.segment, offset: this.#durableEnd.offset, lastSeq: this.#lastSeq };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#draining;
    await this.#writer.run(async () => {
      await this.#writeHandle?.close();
      this.#writeHandle = null;
    });
    await this.#acker.run(async () => {
      // A clean stop records where the WAL ends: damage before it at the next start is loss,
      // counted, not a crash's torn tail. Not after a failed write: the page cache is not the disk.
      if (this.#opened && this.#failed === null && this.#cursorWriteFailed === null && this.#lastSeq > 0) {
        await this.#cursorFile.write(this.#cursor, this.#durableEndRecord()).catch((err: Error) => this.#opts.observer.writeFailed?.(this.name, err));
      }
      for (const fh of this.#readHandles.values()) await fh.close();
      this.#readHandles.clear();
      await this.#cursorFile.close();
    });
    for (const w of this.#waiters) w();
  }
}
