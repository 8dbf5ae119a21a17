/**
 * Whether a stored cursor agrees with the segments on disk. The cursor is metadata, a hint; the
 * records with good CRCs are the truth. A cursor `(segment S, offset O, acked seq Q)` is used
 * only when the records say the same: the good frame at O continues after Q (it has seq Q + 1),
 * or the good frame ending at O has seq Q — or, when S's file is gone, the segments around it
 * leave room for Q. One that points past the segments, ahead of their seqs, past a segment's end
 * or into a record is not used: delivery restarts at the oldest segment, and Loki drops the
 * byte-identical duplicates. Nothing is deleted or truncated because of a cursor alone: only a
 * cursor found consistent here lets the segments before it be deleted.
 *
 * Checking costs a few frames' reads (one before the cursor at most), never a scan of history.
 * The service at start and `logstack wal verify` judge with this same function.
 */
import type { CursorRead, StoredCursor } from './cursor-file.js';
import { HEADER_BYTES, MAX_U48 } from './segment-format.js';
import type { WalPosition } from './types.js';

/** A segment file as found on disk, its header read. */
export interface SurveyedSegment {
  readonly segment: number;
  readonly bytes: number;
  /** seq of the first entry, from a good header; null when the header is damaged. */
  readonly headerFirstSeq: number | null;
}

/** A good frame's seq and kind, where it was looked for. A label set carries the seq of the entry after it. */
export interface FrameSeq {
  readonly seq: number;
  readonly labelSet: boolean;
}

/** How the check reads frames; lookups that find no good frame return null. */
export interface FrameLookup {
  /** The good frame starting at `offset` of `segment`. */
  frameAt(segment: number, offset: number): Promise<FrameSeq | null>;
  /** The good frame ending exactly at `offset` of `segment`. */
  frameEndingAt(segment: number, offset: number): Promise<FrameSeq | null>;
  /** The first good frame of `segment`. */
  firstFrame(segment: number): Promise<FrameSeq | null>;
}

export type CursorJudgement =
  /** Delivery resumes at `resumeAt`; every entry up to `afterSeq` is delivered. */
  /** `unseen`: entries between the cursor and the oldest segment, which cannot be told delivered or lost. */
  | { readonly kind: 'trusted'; readonly cursor: StoredCursor; readonly resumeAt: WalPosition; readonly afterSeq: number; readonly unseen?: string }
  | { readonly kind: 'distrusted'; readonly reason: string };

/** The seq of the last entry up to the end of a frame. */
function entrySeqUpTo(frame: FrameSeq): number {
  return frame.labelSet ? frame.seq - 1 : frame.seq;
}

async function firstEntrySeq(s: SurveyedSegment, lookup: FrameLookup): Promise<number | null> {
  if (s.headerFirstSeq !== null) return s.headerFirstSeq;
  const first = await lookup.firstFrame(s.segment);
  return first === null ? null : first.seq;
}

/** The last entry seq of a segment from its end, or null when no good frame ends there. */
async function lastEntrySeq(s: SurveyedSegment, lookup: FrameLookup): Promise<number | null> {
  if (s.bytes <= HEADER_BYTES) return s.headerFirstSeq === null ? null : s.headerFirstSeq - 1;
  const last = await lookup.frameEndingAt(s.segment, s.bytes);
  return last === null ? null : entrySeqUpTo(last);
}

export async function judgeCursor(cursor: StoredCursor, segments: readonly SurveyedSegment[], lookup: FrameLookup): Promise<CursorJudgement> {
  const { segment: S, offset: O, ackedSeq: Q } = cursor;
  const distrust = (reason: string): CursorJudgement => ({ kind: 'distrusted', reason });
  const trust = (resumeAt: WalPosition): CursorJudgement => ({ kind: 'trusted', cursor, resumeAt, afterSeq: Q });
  if (S < 1 || S > MAX_U48 || O < HEADER_BYTES || Q >= MAX_U48) return distrust(`a field is out of range (segment ${S}, offset ${O}, acked seq ${Q})`);
  const first = segments[0];
  const last = segments.at(-1);
  if (!first || !last) return distrust('there are no segment files');
  if (S > last.segment) return distrust(`it points at segment ${S}, past the last one (${last.segment})`);

  if (S < first.segment) {
    // The segments from S on are gone. The service deletes a segment only once a persisted cursor
    // has passed it, so this cursor is most likely older than the one that did (restored from a
    // backup): the entries between it and the oldest segment were delivered under that later
    // cursor. They are not counted as lost; the oldest segment is delivered whole.
    const f = await firstEntrySeq(first, lookup);
    if (f !== null && Q < f) {
      const unseen = Q + 1 < f ? `entries ${Q + 1}-${f - 1} are not on disk: delivered under a later cursor if this one was restored from a backup, lost if their segments were deleted by hand` : null;
      return { kind: 'trusted', cursor, resumeAt: { segment: first.segment, offset: HEADER_BYTES }, afterSeq: f - 1, ...(unseen === null ? {} : { unseen }) };
    }
    return distrust(`it points at segment ${S}, before the oldest one (${first.segment}), with acked seq ${Q} at or past that segment's first entry (${f ?? 'unreadable'})`);
  }

  const seg = segments.find((s) => s.segment === S);
  if (!seg) {
    const before = [...segments].reverse().find((s) => s.segment < S)!;
    const after = segments.find((s) => s.segment > S)!;
    const lp = await lastEntrySeq(before, lookup);
    const f = await firstEntrySeq(after, lookup);
    if (f !== null && Q < f && (lp === null || lp <= Q)) return trust({ segment: after.segment, offset: HEADER_BYTES });
    return distrust(`its segment ${S} is missing and acked seq ${Q} does not fit between segment ${before.segment} (last seq ${lp ?? 'unreadable'}) and segment ${after.segment} (first seq ${f ?? 'unreadable'})`);
  }

  if (O > seg.bytes) return distrust(`offset ${O} is past the end of segment ${S} (${seg.bytes} bytes)`);
  if (O < seg.bytes) {
    const at = await lookup.frameAt(S, O);
    if (at !== null && at.seq === Q + 1) return trust({ segment: S, offset: O });
    if (at !== null) return distrust(`the record at offset ${O} of segment ${S} has seq ${at.seq}, not ${Q + 1} (acked seq ${Q})`);
  }
  // At the segment's end, or at damage: the good frame before O must end the acked entries.
  const before = O === HEADER_BYTES ? (seg.headerFirstSeq === null ? null : seg.headerFirstSeq - 1) : await lookup.frameEndingAt(S, O).then((f) => (f === null ? null : entrySeqUpTo(f)));
  if (before === Q) {
    if (O < seg.bytes || seg === last) return trust({ segment: S, offset: O });
    const next = segments[segments.indexOf(seg) + 1]!;
    const f = await firstEntrySeq(next, lookup);
    if (f === null || f > Q) return trust({ segment: S, offset: O });
    return distrust(`acked seq ${Q} at the end of segment ${S} is past the first entry of segment ${next.segment} (${f})`);
  }
  if (before === null) return distrust(`offset ${O} in segment ${S} is not at a record boundary`);
  return distrust(`the record before offset ${O} of segment ${S} has seq ${before}, not the acked seq ${Q}`);
}


/** Where delivery starts, as the service places it at start and the tools report it. */
export interface Resume {
  readonly at: WalPosition;
  /** seq of the last entry before `at` when known: entries missing after it are counted lost. */
  readonly afterSeq: number | null;
  /** Every entry up to this seq is delivered (or lost). */
  readonly ackedSeq: number;
}

/**
 * The start of delivery: the cursor when it agrees with the segments; the oldest segment when
 * the cursor file holds none yet — then nothing was ever delivered, and every entry from seq 1
 * should be on disk; the oldest segment too when there is no cursor file or its cursor cannot
 * be used — then what came before that segment is unknown (it may have been delivered), and
 * only its header's first seq is taken as known.
 */
export function resumeOf(read: CursorRead, judgement: CursorJudgement | null, first: SurveyedSegment | undefined): Resume {
  if (judgement?.kind === 'trusted') return { at: judgement.resumeAt, afterSeq: judgement.afterSeq, ackedSeq: judgement.afterSeq };
  const at = { segment: first?.segment ?? 1, offset: HEADER_BYTES };
  if (read.kind === 'none') return { at, afterSeq: 0, ackedSeq: 0 };
  const before = first?.headerFirstSeq == null ? null : first.headerFirstSeq - 1;
  return { at, afterSeq: before, ackedSeq: before ?? 0 };
}
