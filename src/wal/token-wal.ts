/**
 * One token's WAL on disk: a directory of segment files and a cursor.
 *
 * Invariants this file keeps:
 * - A promise returned by `append` resolves only after the fsync that covers its records
 *   (unless `sync` is off), and concurrent appends share that fsync (group commit).
 * - Everything before `durableEnd` is complete, CRC-checked frames; readers never look past it.
 * - A failed write is truncated away before anyone is told; a failed fsync fails the WAL,
 *   because after fsync reports an error the page cache can no longer be trusted.
 * - The cursor is persisted before any segment it passed is deleted, so a crash between the
 *   two leaves a segment that is deleted at the next open, never a cursor that points nowhere.
 * - A segment file appears under its final name only with a complete, fsync'd header.
 */
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { logstackError } from '../errors.js';
import { readCursor, writeCursor, type StoredCursor } from './cursor-file.js';
import { scanFrames } from './frame-scanner.js';
import { fsyncDir } from './fs-sync.js';
import { comparePositions } from './position.js';
import { readRecords } from './segment-reader.js';
import type { FrameBuffers } from './frame-buffers.js';
import { FRAME_HEAD_BYTES, HEADER_BYTES, decodeHeader, encodeFrames, encodeHeader, parseSegmentFileName, segmentFileName } from './segment-format.js';
import type { AppendResult, CorruptNote, ReadLimits, ReadPlan, TokenWal, TokenWalStats, WalObserver, WalPosition, WalReadResult } from './types.js';

export interface TokenWalOptions {
  readonly name: string;
  readonly dir: string;
  readonly segmentMaxBytes: number;
  readonly segmentMaxAgeMs: number;
  readonly quotaBytes: number;
  readonly sync: boolean;
  readonly observer: WalObserver;
  readonly clock: () => number;
  /** Throws the LogstackError to answer when the disk is under its reserve for `bytes` more. */
  readonly checkDisk: (bytes: number) => void;
  /** Where append groups are framed; shared by the store's token WALs. */
  readonly frameBuffers: FrameBuffers;
}

interface Segment {
  readonly segment: number;
  readonly firstSeq: number;
  readonly createdAtMs: number;
  size: number;
  sealed: boolean;
}

interface PendingAppend {
  readonly payloads: readonly Buffer[];
  readonly bytes: number;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: Error) => void;
}

/** Once the active segment is fully delivered and this large, it is rotated so it can be deleted. */
const RECLAIM_FRACTION = 8;

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

export class DiskTokenWal implements TokenWal {
  readonly name: string;
  readonly #opts: TokenWalOptions;
  /** Ascending by segment number; the last one is the active segment. */
  #segments: Segment[] = [];
  #active!: Segment;
  #writeHandle: FileHandle | null = null;
  readonly #readHandles = new Map<number, FileHandle>();
  #lastSeq = 0;
  #cursor: StoredCursor = { segment: 0, offset: HEADER_BYTES, ackedSeq: 0 };
  #durableEnd: WalPosition = { segment: 0, offset: HEADER_BYTES };
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #draining: Promise<void> | null = null;
  readonly #writer = new Mutex();
  readonly #acker = new Mutex();
  #waiters: Array<() => void> = [];
  #failed: string | null = null;
  #closed = false;
  #corrupt = 0;
  /**
   * Per segment, damage before this offset was already counted: re-reads (retries, recovery
   * then delivery) must not count it again. Per segment, because recovery scans the last
   * segment before delivery reads the ones before it.
   */
  readonly #corruptCountedTo = new Map<number, number>();
  #oldestPendingAtMs: number | null = null;
  /** From the options, then from each configuration reload. */
  #quotaBytes: number;

  constructor(opts: TokenWalOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#quotaBytes = opts.quotaBytes;
  }

  /** The quota of appends admitted from now on; what is in the WAL already stays. */
  setQuotaBytes(bytes: number): void {
    this.#quotaBytes = bytes;
  }

  get cursor(): WalPosition {
    return { segment: this.#cursor.segment, offset: this.#cursor.offset };
  }

  get durableEnd(): WalPosition {
    return this.#durableEnd;
  }

  // --- recovery --------------------------------------------------------------------------------

  /** Opens the directory: cleans leftovers, checks headers, truncates a torn tail. */
  async open(): Promise<void> {
    const { dir, observer, name } = this.#opts;
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    for (const n of names) if (n.endsWith('.tmp')) await rm(join(dir, n), { force: true });

    const numbers = names.map(parseSegmentFileName).filter((n): n is number => n !== null).sort((a, b) => a - b);
    const cursorRead = await readCursor(dir);
    if (cursorRead.kind === 'invalid') observer.cursorReset?.(name, cursorRead.reason);
    const stored = cursorRead.kind === 'ok' ? cursorRead.cursor : null;

    let deleted = false;
    for (const n of numbers) {
      const file = join(dir, segmentFileName(n));
      if (stored && n < stored.segment) {
        // Delivered: the cursor was persisted past it, the deletion did not happen before a crash.
        await rm(file, { force: true });
        deleted = true;
        continue;
      }
      const segment = await this.#openSegment(n, file);
      if (segment) this.#segments.push(segment);
    }
    if (deleted) await fsyncDir(dir);
    await this.#countMissingSegments(names, stored);

    const last = this.#segments.at(-1);
    let lastSeq = stored?.ackedSeq ?? 0;
    if (last) {
      const scanFrom = stored && stored.segment === last.segment && (await this.#isFrameBoundary(last, stored.offset)) ? stored.offset : HEADER_BYTES;
      lastSeq = Math.max(lastSeq, last.firstSeq - 1);
      lastSeq = await this.#recoverTail(last, scanFrom, lastSeq);
      if (last.size >= this.#opts.segmentMaxBytes) last.sealed = true;
    }
    this.#lastSeq = lastSeq;
    for (const s of this.#segments.slice(0, -1)) s.sealed = true;

    if (!last || last.sealed) {
      const created = await this.#createSegment(Math.max(last?.segment ?? 0, stored?.segment ?? 0) + 1, lastSeq + 1);
      this.#segments.push(created);
    }
    this.#active = this.#segments.at(-1)!;
    this.#writeHandle = await open(join(dir, segmentFileName(this.#active.segment)), 'r+');
    this.#durableEnd = { segment: this.#active.segment, offset: this.#active.size };
    this.#cursor = this.#normalizeCursor(stored);
    this.#oldestPendingAtMs = (await this.#oldestPendingAt(this.#cursor)) ?? null;
  }

  async #openSegment(n: number, file: string): Promise<Segment | null> {
    const { observer, name } = this.#opts;
    const fh = await open(file, 'r');
    let headerBuf: Buffer;
    let size: number;
    try {
      size = (await fh.stat()).size;
      headerBuf = Buffer.alloc(HEADER_BYTES);
      await fh.read(headerBuf, 0, HEADER_BYTES, 0);
    } finally {
      await fh.close();
    }
    const header = decodeHeader(headerBuf);
    if (typeof header === 'string' || header.segment !== n) {
      // Keep the bytes for an operator, out of the way of delivery.
      const reason = typeof header === 'string' ? header : `header names segment ${header.segment}`;
      await rename(file, `${file}.damaged`);
      observer.corruptRecords?.(name, 1, `segment ${n}: ${reason}; renamed to ${segmentFileName(n)}.damaged`);
      this.#corrupt += 1;
      return null;
    }
    return { segment: n, firstSeq: header.firstSeq, createdAtMs: header.createdAtMs, size, sealed: false };
  }

  /**
   * Counts the entries of segment files missing from the cursor on (deleted by hand): segments
   * are numbered one after another and a header holds its first seq, so the loss is exact.
   * A gap after a segment set aside as damaged is not counted again (it was, as 1), and one
   * before the first segment without a cursor cannot be told from history already delivered.
   */
  async #countMissingSegments(names: readonly string[], stored: StoredCursor | null): Promise<void> {
    const found = names.map((n) => parseSegmentFileName(n.replace(/\.damaged$/, ''))).filter((n): n is number => n !== null && n >= (stored?.segment ?? 0));
    const known = [...new Set(found)].sort((a, b) => a - b);
    const bySegment = new Map(this.#segments.map((s) => [s.segment, s]));
    let expected = stored?.segment ?? known[0] ?? 0;
    // The seq of the last record before segment `expected`, where it is known.
    let seqBefore: number | null = stored?.ackedSeq ?? null;
    for (const [i, n] of known.entries()) {
      const segment = bySegment.get(n);
      if (n > expected && segment && seqBefore !== null && segment.firstSeq - 1 > seqBefore) {
        const lost = segment.firstSeq - 1 - seqBefore;
        const files = n - 1 > expected ? `segments ${expected}-${n - 1} are` : `segment ${expected} is`;
        this.#corrupt += lost;
        this.#opts.observer.corruptRecords?.(this.name, lost, `${files} missing: entries ${seqBefore + 1}-${segment.firstSeq - 1} skipped`);
      }
      const following = known[i + 1];
      seqBefore = segment && following !== undefined && following > n + 1 ? await this.#lastSeqIn(segment) : null;
      expected = n + 1;
    }
  }

  /** The seq of the last good record of a segment (a scan of all of it). */
  async #lastSeqIn(segment: Segment): Promise<number> {
    const fh = await open(join(this.#opts.dir, segmentFileName(segment.segment)), 'r');
    try {
      let pos = HEADER_BYTES;
      let seq = segment.firstSeq - 1;
      for (;;) {
        const r = await scanFrames(fh, pos, segment.size, { maxRecords: 65536, maxBytes: 16 * 1024 * 1024 }, seq);
        seq = r.lastSeq;
        if (r.damagedTailAt !== null || r.next >= segment.size || r.next <= pos) return seq;
        pos = r.next;
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * Whether a good frame starts at `offset` (or it is the end). Recovery scans the last segment
   * from the cursor only then: opening costs what is undelivered, not the history before it.
   */
  async #isFrameBoundary(segment: Segment, offset: number): Promise<boolean> {
    if (offset < HEADER_BYTES || offset > segment.size) return false;
    if (offset === segment.size) return true;
    const fh = await open(join(this.#opts.dir, segmentFileName(segment.segment)), 'r');
    try {
      const r = await scanFrames(fh, offset, segment.size, { maxRecords: 1, maxBytes: 1 }, 0);
      return r.frames[0]?.offset === offset;
    } finally {
      await fh.close();
    }
  }

  /** Scans the last segment from `from` to its end; truncates whatever follows the last good frame. */
  async #recoverTail(segment: Segment, from: number, lastSeq: number): Promise<number> {
    const { dir, observer, name } = this.#opts;
    const fh = await open(join(dir, segmentFileName(segment.segment)), 'r+');
    try {
      let pos = from;
      let seq = lastSeq;
      for (;;) {
        const r = await scanFrames(fh, pos, segment.size, { maxRecords: 65536, maxBytes: 16 * 1024 * 1024 }, seq);
        seq = r.lastSeq;
        if (r.corrupt > 0 && r.damagedTailAt === null) this.noteCorrupt([{ count: r.corrupt, scannedTo: { segment: segment.segment, offset: r.next } }]);
        if (r.damagedTailAt !== null) {
          observer.tornTail?.(name, segment.segment, segment.size - r.damagedTailAt);
          await fh.truncate(r.damagedTailAt);
          await fh.sync();
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

  #normalizeCursor(stored: StoredCursor | null): StoredCursor {
    const first = this.#segments[0]!;
    if (!stored || stored.segment < first.segment) {
      if (stored) this.#opts.observer.cursorReset?.(this.name, `segments before ${first.segment} are missing`);
      return { segment: first.segment, offset: HEADER_BYTES, ackedSeq: Math.max(stored?.ackedSeq ?? 0, first.firstSeq - 1) };
    }
    const seg = this.#segments.find((s) => s.segment >= stored.segment);
    // A cursor past every segment: all that is left was delivered.
    if (!seg) return { segment: this.#active.segment, offset: this.#active.size, ackedSeq: stored.ackedSeq };
    if (seg.segment !== stored.segment) return { segment: seg.segment, offset: HEADER_BYTES, ackedSeq: stored.ackedSeq };
    const offset = Math.min(Math.max(stored.offset, HEADER_BYTES), seg.size);
    return this.#advancePastSealedEnd({ segment: seg.segment, offset, ackedSeq: stored.ackedSeq });
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

  append(payloads: readonly Buffer[]): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(logstackError('WAL_NOT_OPEN', ['closing']));
    if (this.#failed) return Promise.reject(logstackError('WAL_UNAVAILABLE', [this.name, this.#failed], { retryAfterSeconds: 30 }));
    if (payloads.length === 0) throw new TypeError('append needs at least one payload');
    let bytes = 0;
    for (const p of payloads) bytes += p.length + FRAME_HEAD_BYTES;
    const used = this.#pendingBytes() + this.#queuedBytes;
    if (used + bytes > this.#quotaBytes) {
      return Promise.reject(logstackError('WAL_QUOTA_EXCEEDED', [this.name, used, this.#quotaBytes], { retryAfterSeconds: 30 }));
    }
    try {
      this.#opts.checkDisk(bytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ payloads, bytes, resolve, reject });
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
        for (const g of group) this.#queuedBytes -= g.bytes;
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
    let total = 0;
    for (const g of group) total += g.bytes;
    try {
      if (this.#active.size > HEADER_BYTES && (this.#active.size + total > this.#opts.segmentMaxBytes || now - this.#active.createdAtMs >= this.#opts.segmentMaxAgeMs)) {
        await this.#rotateLocked();
      }
    } catch (err) {
      // Nothing of the group was written; the next group tries the rotation again.
      this.#opts.observer.writeFailed?.(this.name, err as Error);
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return fail(logstackError('WAL_UNAVAILABLE', [this.name, `rotation failed (${code})`], { cause: err, retryAfterSeconds: 5 }));
    }

    const firstSeq = this.#lastSeq + 1;
    const payloads: Buffer[] = [];
    for (const g of group) payloads.push(...g.payloads);
    const buffer = this.#opts.frameBuffers.acquire(total);
    try {
      await this.#writeFrames(group, encodeFrames(payloads, firstSeq, now, buffer), firstSeq, now);
    } finally {
      this.#opts.frameBuffers.release(buffer);
    }
  }

  async #writeFrames(group: PendingAppend[], frames: Buffer, firstSeq: number, now: number): Promise<void> {
    const fail = (err: Error) => rejectAll(group, err);
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
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return fail(logstackError('WAL_UNAVAILABLE', [this.name, `write failed (${code})`], { cause: err, retryAfterSeconds: 5 }));
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
    let seq = firstSeq;
    for (const g of group) {
      g.resolve({ firstSeq: seq, lastSeq: seq + g.payloads.length - 1 });
      seq += g.payloads.length;
    }
    this.#lastSeq = seq - 1;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #fail(what: string, err: Error): Error {
    // The errno code only: an error's message may name a path, and this text reaches clients.
    this.#failed = `${what}: ${(err as NodeJS.ErrnoException).code ?? 'EIO'}`;
    this.#opts.observer.writeFailed?.(this.name, err);
    return logstackError('WAL_UNAVAILABLE', [this.name, this.#failed], { cause: err, retryAfterSeconds: 30 });
  }

  async #createSegment(segment: number, firstSeq: number): Promise<Segment> {
    const { dir } = this.#opts;
    const createdAtMs = this.#opts.clock();
    const file = join(dir, segmentFileName(segment));
    const temp = `${file}.tmp`;
    const fh = await open(temp, 'w');
    try {
      await fh.writeFile(encodeHeader({ segment, createdAtMs, firstSeq }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
    await fsyncDir(dir);
    return { segment, firstSeq, createdAtMs, size: HEADER_BYTES, sealed: false };
  }

  async #rotateLocked(): Promise<void> {
    const next = await this.#createSegment(this.#active.segment + 1, this.#lastSeq + 1);
    const handle = await open(join(this.#opts.dir, segmentFileName(next.segment)), 'r+');
    await this.#writeHandle?.close();
    // One synchronous step, no await inside: a reader or an ack in between would see a sealed
    // segment while the durable end still lay in it, and an ack at its end normalised to the
    // next segment would be refused as beyond the durable end (found by the crash fixture).
    this.#writeHandle = handle;
    this.#active.sealed = true;
    this.#segments.push(next);
    this.#active = next;
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

  planRead(from: WalPosition): ReadPlan {
    const start = this.#startOf(from);
    const segments = [];
    for (const s of this.#segments) {
      if (s.segment < start.segment) continue;
      segments.push({ segment: s.segment, end: s === this.#active ? this.#durableEnd.offset : s.size });
    }
    return { dir: this.#opts.dir, start, segments };
  }

  async read(from: WalPosition, limits: ReadLimits): Promise<WalReadResult> {
    if (this.#closed) throw logstackError('WAL_NOT_OPEN', ['closed']);
    const { records, next, corrupt, corruptNotes } = await readRecords(this.planRead(from), limits, async (segment) => ({
      fh: await this.#readHandle(segment),
      release: async () => {},
    }));
    this.noteCorrupt(corruptNotes);
    return { records, next, corrupt };
  }

  noteCorrupt(notes: readonly CorruptNote[]): void {
    for (const { count, scannedTo } of notes) {
      if (scannedTo.offset <= (this.#corruptCountedTo.get(scannedTo.segment) ?? 0)) continue;
      this.#corruptCountedTo.set(scannedTo.segment, scannedTo.offset);
      this.#corrupt += count;
      this.#opts.observer.corruptRecords?.(this.name, count, `segment ${scannedTo.segment}`);
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
    return this.#acker.run(async () => {
      const target = this.#advancePastSealedEnd({ segment: to.segment, offset: to.offset, ackedSeq: Math.max(ackedSeq, this.#cursor.ackedSeq) });
      if (comparePositions(target, this.#cursor) < 0) throw new TypeError(`ack moves the cursor of ${this.name} backwards`);
      if (comparePositions(target, this.#durableEnd) > 0) throw new TypeError(`ack beyond the durable end of ${this.name}`);
      try {
        await this.#persistCursor(target);
      } catch (err) {
        // A failed cursor write leaves the previous cursor on disk (temp file, then rename), so
        // what it covered is delivered again after a restart, never skipped.
        this.#opts.observer.writeFailed?.(this.name, err as Error);
        throw err;
      }
    }).then(() => this.#reclaimDrainedActive());
  }

  async #persistCursor(target: StoredCursor): Promise<void> {
    const cursor = this.#advancePastSealedEnd(target);
    await writeCursor(this.#opts.dir, cursor);
    const gone = this.#segments.filter((s) => s.segment < cursor.segment);
    if (gone.length > 0) {
      this.#segments = this.#segments.filter((s) => s.segment >= cursor.segment);
      for (const s of gone) {
        await this.#readHandles.get(s.segment)?.close();
        this.#readHandles.delete(s.segment);
        this.#corruptCountedTo.delete(s.segment);
        await rm(join(this.#opts.dir, segmentFileName(s.segment)), { force: true });
        this.#opts.observer.segmentDeleted?.(this.name, s.segment);
      }
      await fsyncDir(this.#opts.dir);
    }
    // The cursor and what derives from it change in one step, once the deletes are done: stats
    // never show a cursor past every entry beside an oldest pending one or a delivered segment.
    const oldest = await this.#oldestPendingAt(cursor);
    this.#cursor = cursor;
    if (oldest !== undefined) this.#oldestPendingAtMs = oldest;
  }

  /** A fully delivered active segment past a size is rotated, so its disk space comes back. */
  async #reclaimDrainedActive(): Promise<void> {
    const drained = this.#cursor.segment === this.#active.segment && this.#cursor.offset >= this.#active.size && this.#queue.length === 0;
    if (drained && this.#active.size >= this.#opts.segmentMaxBytes / RECLAIM_FRACTION) await this.rotate();
  }

  /**
   * When the entry at `cursor` was appended, read from its frame head only; null when nothing
   * is pending, undefined when the head is damaged (the previous estimate is kept rather than
   * a nonsense time reported).
   */
  async #oldestPendingAt(cursor: StoredCursor): Promise<number | null | undefined> {
    const pos = this.#startOf(cursor);
    if (cursor.ackedSeq >= this.#lastSeq || comparePositions(pos, this.#durableEnd) >= 0) return null;
    const head = Buffer.alloc(FRAME_HEAD_BYTES);
    await (await this.#readHandle(pos.segment)).read(head, 0, FRAME_HEAD_BYTES, pos.offset);
    return head.readUInt16LE(22) === 0 ? head.readUIntLE(16, 6) : undefined;
  }

  // --- reporting and closing -------------------------------------------------------------------

  #pendingBytes(): number {
    let bytes = 0;
    for (const s of this.#segments) {
      if (s.segment < this.#cursor.segment) continue;
      bytes += s.size - (s.segment === this.#cursor.segment ? this.#cursor.offset : HEADER_BYTES);
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
    };
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
      for (const fh of this.#readHandles.values()) await fh.close();
      this.#readHandles.clear();
    });
    for (const w of this.#waiters) w();
  }
}
