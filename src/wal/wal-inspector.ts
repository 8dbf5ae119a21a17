/**
 * Reads a WAL without touching it, for operators' tools that may run beside the service: files
 * are opened read-only, the lock is never taken, nothing is truncated, renamed or written.
 *
 * It sorts a token's directory out, judges its cursor and reads its records with the code the
 * service runs at start and in delivery (token-dir-survey.ts, cursor-check.ts,
 * segment-reader.ts), so what it reports as lost is what the service loses.
 *
 * A running service appends only to its highest segment, creates higher ones and deletes those
 * its persisted cursor has passed. So a snapshot taken in this order stays consistent: the
 * cursor first, then the listing, then each segment's size. A segment deleted meanwhile was
 * delivered; what is appended after the snapshot is not read.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resumeOf, type CursorJudgement, type Resume } from './cursor-check.js';
import { CURSOR_FILE, readCursor } from './cursor-file.js';
import { LabelSetReader } from './label-sets.js';
import { comparePositions } from './position.js';
import { printableName } from './printable-name.js';
import { readRecords, type PlanReadResult } from './segment-reader.js';
import { HEADER_BYTES, parseSegmentFileName, type SegmentHeader } from './segment-format.js';
import { classifyRootEntry, tokenNameOfDir } from './token-dir.js';
import { judgeSurveyedCursor, surveyTokenDir, surveyed, type TokenDirSurvey } from './token-dir-survey.js';
import type { DamageNote, WalPosition } from './types.js';
import { LOCK_DIR, isLockFile } from './wal-lock.js';

/**
 * The lock holder refreshes the lock's mtime every `wal.lock_stale_seconds / 2` (5 s by
 * default); a minute covers settings up to 120 s, and a lock left by a crash soon looks stale.
 */
const LOCK_FRESH_MS = 60_000;
const READ_LIMITS = { maxRecords: 4096, maxBytes: 4 * 1024 * 1024 };

export interface TokenLocation {
  /** The key name; printable (a directory given by hand may be named anything). */
  readonly name: string;
  readonly dir: string;
}

export interface WalLocation {
  readonly root: string;
  readonly tokens: readonly TokenLocation[];
  /** Entries of the root that are no key's WAL, left alone by the service: printable names. */
  readonly ignored: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
}

export interface TokenSnapshot extends TokenLocation {
  readonly survey: TokenDirSurvey;
  readonly judgement: CursorJudgement | null;
  /** Where delivery resumes, as the service places it at its next start. */
  readonly resume: Resume;
}

export type WalEvent =
  | { readonly kind: 'segment'; readonly segment: number; readonly header: SegmentHeader | null; readonly headerError: string | null }
  /** Deleted after the listing: the running service delivered it. */
  | { readonly kind: 'vanished'; readonly segment: number }
  | {
      readonly kind: 'record';
      readonly segment: number;
      readonly offset: number;
      readonly size: number;
      readonly seq: number;
      readonly appendedAtMs: number;
      readonly labels: string;
      readonly entry: Buffer;
    }
  /** Damage, and the entries it cost (exact where the seqs around it are known). */
  | { readonly kind: 'damage'; readonly note: DamageNote }
  /** Damage running to the end of the last segment: a crash mid-write, or a write in progress. */
  | { readonly kind: 'torn-tail'; readonly segment: number; readonly offset: number; readonly bytes: number; readonly reason: string };

function holdsWal(names: readonly string[]): boolean {
  return names.some((n) => n === CURSOR_FILE || parseSegmentFileName(n) !== null);
}

/** Finds the token directories of `dir`, a WAL root or one token directory; a string says why it is neither. */
export async function locateWal(dir: string): Promise<WalLocation | string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `${printableName(dir)} is not a directory`;
    throw err;
  }
  if (holdsWal(entries.filter((e) => e.isFile()).map((e) => e.name))) {
    const name = basename(dir);
    return { root: dirname(dir), tokens: [{ name: tokenNameOfDir(name) ?? printableName(name), dir }], ignored: [] };
  }
  const tokens: TokenLocation[] = [];
  const ignored: Array<{ name: string; reason: string }> = [];
  for (const e of entries) {
    if (isLockFile(e.name)) continue;
    const found = await classifyRootEntry(dir, e);
    if (found.kind === 'leftover') tokens.push({ name: found.name, dir: join(dir, e.name) });
    else ignored.push({ name: printableName(e.name), reason: found.reason });
  }
  if (tokens.length === 0 && !entries.some((e) => e.name === LOCK_DIR)) return `${printableName(dir)} is neither a WAL root nor a token directory of one`;
  tokens.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { root: dir, tokens, ignored };
}

/** Whether a running process holds the root's lock (its lock directory is fresh). */
export async function isLockHeld(root: string, nowMs: number): Promise<boolean> {
  try {
    return nowMs - (await stat(join(root, LOCK_DIR))).mtimeMs < LOCK_FRESH_MS;
  } catch {
    return false;
  }
}

/** Snapshots taken at most while a running service moves its cursor and deletes what it passed. */
const SNAPSHOT_ATTEMPTS = 20;

export async function snapshotToken(token: TokenLocation): Promise<TokenSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const survey = await surveyTokenDir(token.dir);
    let judgement;
    try {
      judgement = await judgeSurveyedCursor(survey);
    } catch (err) {
      // The service delivered a segment and deleted it after the listing: its cursor moved on.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < SNAPSHOT_ATTEMPTS) continue;
      throw err;
    }
    // A cursor that moved meanwhile may have had its segments deleted after the listing was
    // taken with the older one: judged against them, delivered entries would look lost.
    const moved = JSON.stringify(await readCursor(token.dir)) !== JSON.stringify(survey.cursor);
    if (moved && attempt < SNAPSHOT_ATTEMPTS) continue;
    const resume = resumeOf(survey.cursor, judgement, survey.segments[0] && surveyed(survey.segments[0]));
    return { ...token, survey, judgement, resume };
  }
}

/** Segment bytes from `from` to the end, as the service counts its backlog. */
function bytesFrom(snapshot: TokenSnapshot, from: WalPosition): number {
  let bytes = 0;
  for (const s of snapshot.survey.segments) {
    if (s.segment >= from.segment) bytes += Math.max(0, s.bytes - (s.segment === from.segment ? from.offset : HEADER_BYTES));
  }
  return bytes;
}

/**
 * Every segment header, record and damaged place from `from` to the snapshot's end, in order.
 * `afterSeq` is the seq of the last entry before `from` when known (as in a read plan): losses
 * are counted from it, as the service counts them.
 */
export async function* walkRecords(snapshot: TokenSnapshot, from: WalPosition, afterSeq: number | null, end?: WalPosition): AsyncGenerator<WalEvent> {
  const segments = snapshot.survey.segments.filter((s) => s.segment >= from.segment && (end === undefined || s.segment <= end.segment));
  const announced = new Set<number>();
  const announce = function* (upTo: number): Generator<WalEvent> {
    for (const s of segments) {
      if (s.segment > upTo || announced.has(s.segment)) continue;
      announced.add(s.segment);
      yield { kind: 'segment', segment: s.segment, header: s.header, headerError: s.headerError };
    }
  };
  const last = segments.at(-1);
  if (!last) return;
  const stop: WalPosition = end ?? { segment: last.segment, offset: last.bytes };
  const labelSets = new LabelSetReader();
  let start: WalPosition = { segment: from.segment, offset: Math.max(HEADER_BYTES, from.offset) };
  let seq = afterSeq;
  for (;;) {
    const plan = {
      dir: snapshot.dir,
      start,
      afterSeq: seq,
      segments: segments.filter((s) => s.segment >= start.segment).map((s) => ({ segment: s.segment, end: s.segment === stop.segment ? Math.min(s.bytes, stop.offset) : s.bytes })),
      lastSeq: null,
    };
    const r: PlanReadResult = await readRecords(plan, READ_LIMITS, undefined, labelSets);
    type Positioned = { readonly at: WalPosition; readonly event: WalEvent };
    const events: Positioned[] = [
      ...r.records.map((rec): Positioned => ({
        at: rec.position,
        event: { kind: 'record', segment: rec.position.segment, offset: rec.position.offset, size: rec.next.offset - rec.position.offset, seq: rec.seq, appendedAtMs: rec.appendedAtMs, labels: rec.labels, entry: rec.entry },
      })),
      ...r.damage.map((note): Positioned => ({ at: note.at, event: { kind: 'damage', note } })),
      ...r.vanished.map((segment): Positioned => ({ at: { segment, offset: 0 }, event: { kind: 'vanished', segment } })),
    ].sort((a, b) => comparePositions(a.at, b.at));
    for (const { at, event } of events) {
      yield* announce(at.segment);
      yield event;
    }
    if (r.tornTail) {
      yield* announce(r.tornTail.at.segment);
      yield { kind: 'torn-tail', segment: r.tornTail.at.segment, offset: r.tornTail.at.offset, bytes: r.tornTail.bytes, reason: r.tornTail.reason };
    }
    const progressed = comparePositions(r.next, start) > 0 || r.records.length > 0;
    if (!progressed || comparePositions(r.next, stop) >= 0 || (r.next.segment === stop.segment && r.next.offset >= plan.segments.at(-1)!.end)) break;
    start = r.next;
    seq = r.coveredSeq;
  }
  yield* announce(stop.segment);
}

export interface Backlog {
  /** Where delivery resumes. */
  readonly from: WalPosition;
  readonly entries: number;
  readonly bytes: number;
  readonly oldestAppendedAtMs: number | null;
  /** Entries lost to damage between the cursor and the end, as delivery will count them. */
  readonly lostEntries: number;
}

/** What is not yet delivered: every record after the resume point, read and checked. */
export async function backlogOf(snapshot: TokenSnapshot): Promise<Backlog> {
  const from = snapshot.resume.at;
  let entries = 0;
  let lostEntries = 0;
  let oldestAppendedAtMs: number | null = null;
  for await (const e of walkRecords(snapshot, from, snapshot.resume.afterSeq)) {
    if (e.kind === 'record') {
      entries++;
      oldestAppendedAtMs ??= e.appendedAtMs;
    } else if (e.kind === 'damage') {
      lostEntries += e.note.entries;
    }
  }
  return { from, entries, bytes: bytesFrom(snapshot, from), oldestAppendedAtMs, lostEntries };
}
