/**
 * What a token's WAL directory holds, sorted out: its segment files (with their headers), its
 * cursor, the leftovers of its own interrupted writes, and everything else — files and folders
 * that are not the WAL's, which are set aside (left where they are, reported once) and never
 * take the token down. Read-only: the service at start and `logstack wal` survey alike.
 *
 * A segment file is a regular file named `<16 digits>.wal` whose number fits the header's
 * 48-bit field. A damaged header costs the header, not the records: the number is in the name,
 * the first seq in the first good record, and the frames say which version wrote them.
 *
 * Seqs rise with segment numbers. A segment whose seqs overlap or go back behind another's (an
 * older segment restored under a new number, another key's segment copied in) cannot be read
 * in line with the others: its records would be dropped as not continuing the sequence, and
 * new appends would reuse its seqs. Such segments are singled out here, the fewest that leave
 * the others in order, for the service to set aside (set-aside.ts) and verify to report.
 */
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { judgeCursor, type CursorJudgement, type FrameLookup, type FrameSeq, type SurveyedSegment } from './cursor-check.js';
import { CURSOR_FILE, readCursor, type CursorRead } from './cursor-file.js';
import { frameAt, frameEndingAt, readRange, scanFrames } from './frame-scanner.js';
import { printableName } from './printable-name.js';
import { fileKind } from './regular-file.js';
import { isSetAsideName } from './set-aside.js';
import {
  HEADER_BYTES,
  KIND_LABEL_SET,
  decodeHeader,
  looksLikeSegmentFileName,
  parseSegmentFileName,
  segmentFileName,
  type SegmentHeader,
} from './segment-format.js';

export const DEAD_LETTER_DIR = 'dead-letter';
const OWN_TEMP = /^(\d{16}\.wal|cursor\.json)\.tmp$/;

export interface SegmentFile {
  readonly segment: number;
  readonly file: string;
  /** The size when surveyed: readers stop there. */
  readonly bytes: number;
  readonly header: SegmentHeader | null;
  /** Why the header cannot be used; null when it can. */
  readonly headerError: string | null;
  /** seq of its first entry: from the header, or its first good frame; null when neither says. */
  readonly firstSeq: number | null;
  /** seq of its last entry, from the good frame ending the file; null when none ends it (or it is empty). */
  readonly lastSeq: number | null;
  /** The WAL id of a header whose CRC holds, even one naming another segment (a copy); null when none. */
  readonly walId: string | null;
}

export interface OverlappingSegment {
  readonly segment: SegmentFile;
  readonly reason: string;
}

export interface SetAside {
  /** Printable (printable-name.ts). */
  readonly name: string;
  readonly reason: string;
}

export interface TokenDirSurvey {
  readonly cursor: CursorRead;
  /** Ascending by segment number; the overlapping ones are not among them. */
  readonly segments: readonly SegmentFile[];
  /** Segments of another WAL, or whose seqs overlap or go back behind the others': set aside, not read. */
  readonly overlapping: readonly OverlappingSegment[];
  /**
   * The folder's WAL id (segment-format.ts): the cursor's when segments carry it, else the one
   * most segments carry (the highest segment's on a tie); null when no segment carries one.
   */
  readonly walId: string | null;
  /** Temp files of writes a crash interrupted: the WAL's own, removed at the next start. */
  readonly leftovers: readonly string[];
  readonly setAside: readonly SetAside[];
  /**
   * What holds the name of the cursor file or the dead-letter folder and is not one (a folder,
   * a FIFO, a file, a link): it cannot be left there, the WAL would never write its own; the
   * service renames it aside (set-aside.ts).
   */
  readonly inTheWay: readonly SetAside[];
}

function setAsideReason(name: string, kind: 'file' | 'directory' | 'other'): string {
  if (isSetAsideName(name)) return 'set aside by LogStack at an earlier start (its log says why): not read';
  if (name.endsWith('.wal.damaged')) return 'a segment an earlier release set aside for a bad header: its records were not delivered; rename it back while LogStack is stopped to have them read';
  if (looksLikeSegmentFileName(name)) return kind === 'file' ? 'named like a segment, but its number is out of range (1 to 2^48 - 1)' : `a ${kind === 'directory' ? 'folder' : 'non-file'} named like a segment`;
  return `not a file of the WAL (a ${kind === 'directory' ? 'folder' : kind === 'file' ? 'file' : 'special file or link'})`;
}

/**
 * The header and the seq range of a segment file. The range costs a frame or two: the first
 * frame only when the header cannot say, and the frame that ends the file, found by looking
 * back from its end (never a scan of the segment).
 */
async function readSegmentFile(file: string, segment: number): Promise<Omit<SegmentFile, 'segment' | 'file'> | null> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    // Deleted since the listing: delivered meanwhile by the running service.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const bytes = (await fh.stat()).size;
    const decoded = decodeHeader(await readRange(fh, 0, HEADER_BYTES));
    let header = typeof decoded === 'string' ? null : decoded;
    let headerError = typeof decoded === 'string' ? decoded : null;
    const walId = header?.walId ?? null;
    if (header && header.segment !== segment) {
      headerError = `header names segment ${header.segment}`;
      header = null;
    }
    if (bytes <= HEADER_BYTES) return { bytes, header, headerError, firstSeq: null, lastSeq: null, walId };
    let firstSeq = header?.firstSeq ?? null;
    if (firstSeq === null) firstSeq = (await scanFrames(fh, HEADER_BYTES, bytes, { maxRecords: 1, maxBytes: 1 }, null)).frames[0]?.seq ?? null;
    const end = await frameEndingAt(fh, bytes);
    const lastSeq = end === null ? null : end.kind === KIND_LABEL_SET ? end.seq - 1 : end.seq;
    return { bytes, header, headerError, firstSeq, lastSeq, walId };
  } finally {
    await fh.close();
  }
}

/**
 * The segments to keep so that seq ranges rise with segment numbers, and the others: the
 * longest run of segments in order is kept (a restored copy or a stray segment is one against
 * many). Empty segments and those whose seqs cannot be read are kept: they hold nothing to
 * misplace. Quadratic in the segments, and only when some are out of order.
 */
export function splitOverlapping(segments: readonly SegmentFile[]): { kept: SegmentFile[]; overlapping: OverlappingSegment[] } {
  const ranged = segments.filter((s) => s.firstSeq !== null);
  const lastOf = (s: SegmentFile) => Math.max(s.firstSeq!, s.lastSeq ?? s.firstSeq!);
  if (ranged.every((s, i) => i === 0 || s.firstSeq! > lastOf(ranged[i - 1]!))) return { kept: [...segments], overlapping: [] };
  const best = ranged.map(() => 1);
  const before = ranged.map(() => -1);
  for (let j = 0; j < ranged.length; j++) {
    for (let i = 0; i < j; i++) {
      if (lastOf(ranged[i]!) < ranged[j]!.firstSeq! && best[i]! + 1 > best[j]!) {
        best[j] = best[i]! + 1;
        before[j] = i;
      }
    }
  }
  let end = 0;
  for (let j = 1; j < ranged.length; j++) if (best[j]! > best[end]!) end = j;
  const chain = new Set<SegmentFile>();
  for (let j = end; j >= 0; j = before[j]!) chain.add(ranged[j]!);
  const overlapping: OverlappingSegment[] = [];
  for (const s of ranged) {
    if (chain.has(s)) continue;
    const clash = [...chain].find((k) => (k.segment < s.segment ? lastOf(k) >= s.firstSeq! : k.firstSeq! <= lastOf(s)))!;
    const range = (x: SegmentFile) => `seqs ${x.firstSeq}-${lastOf(x)}`;
    overlapping.push({ segment: s, reason: `its ${range(s)} overlap or go back behind segment ${clash.segment}'s (${range(clash)}): a copy of another segment, or another WAL's` });
  }
  return { kept: segments.filter((s) => s.firstSeq === null || chain.has(s)), overlapping };
}

function walIdOf(segments: readonly SegmentFile[], cursorWalId: string | null): string | null {
  const counts = new Map<string, number>();
  for (const s of segments) if (s.walId) counts.set(s.walId, (counts.get(s.walId) ?? 0) + 1);
  if (cursorWalId !== null && counts.has(cursorWalId)) return cursorWalId;
  let best: string | null = null;
  // Ascending segments: on a tie the later one wins, the id new segments were written with.
  for (const s of segments) {
    const id = s.walId;
    if (id && (best === null || counts.get(id)! >= counts.get(best)!)) best = id;
  }
  return best;
}

export async function surveyTokenDir(dir: string): Promise<TokenDirSurvey> {
  // The cursor before the listing: the service moves it before it deletes what it passed.
  const cursor = await readCursor(dir);
  const entries = await readdir(dir, { withFileTypes: true });
  const segments: SegmentFile[] = [];
  const leftovers: string[] = [];
  const setAside: SetAside[] = [];
  const inTheWay: SetAside[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const kind = e.isFile() ? 'file' : e.isDirectory() ? 'directory' : 'other';
    if (e.name === CURSOR_FILE && kind === 'file') continue;
    if (e.name === DEAD_LETTER_DIR && kind === 'directory') continue;
    if (e.name === CURSOR_FILE || e.name === DEAD_LETTER_DIR) {
      inTheWay.push({ name: e.name, reason: `${fileKind(e)} where the ${e.name === CURSOR_FILE ? 'cursor file' : 'dead-letter folder'} goes` });
      continue;
    }
    if (OWN_TEMP.test(e.name) && kind === 'file') {
      leftovers.push(e.name);
      continue;
    }
    const n = parseSegmentFileName(e.name);
    if (n === null || kind !== 'file') {
      setAside.push({ name: printableName(e.name), reason: setAsideReason(e.name, kind) });
      continue;
    }
    const file = join(dir, segmentFileName(n));
    const read = await readSegmentFile(file, n);
    if (!read) continue;
    segments.push({ segment: n, file, ...read });
  }
  segments.sort((a, b) => a.segment - b.segment);
  const walId = walIdOf(segments, cursor.kind === 'ok' ? cursor.walId : null);
  const foreign = segments.filter((s) => s.walId !== null && s.walId !== walId);
  const { kept, overlapping } = splitOverlapping(segments.filter((s) => !foreign.includes(s)));
  for (const s of foreign) overlapping.push({ segment: s, reason: `it belongs to another WAL (id ${s.walId}; this folder's is ${walId})` });
  overlapping.sort((a, b) => a.segment.segment - b.segment.segment);
  return { cursor, segments: kept, overlapping, walId, leftovers, setAside, inTheWay };
}

export function surveyed(s: SegmentFile): SurveyedSegment {
  return { segment: s.segment, bytes: s.bytes, headerFirstSeq: s.header?.firstSeq ?? null };
}

/** The survey's cursor judged against its segments (cursor-check.ts); null when there is no cursor to judge. */
export async function judgeSurveyedCursor(survey: TokenDirSurvey): Promise<CursorJudgement | null> {
  if (survey.cursor.kind !== 'ok') return null;
  const { walId } = survey.cursor;
  // Offsets and seqs cannot tell another key's cursor from this one's when traffic has one shape.
  if (walId !== null && survey.walId !== null && walId !== survey.walId) return { kind: 'distrusted', reason: `it belongs to another WAL (id ${walId}; the segments' is ${survey.walId})` };
  const handles = new Map<number, FileHandle>();
  const bySegment = new Map(survey.segments.map((s) => [s.segment, s]));
  const handle = async (segment: number) => {
    let fh = handles.get(segment);
    if (!fh) {
      fh = await open(bySegment.get(segment)!.file, 'r');
      handles.set(segment, fh);
    }
    return fh;
  };
  const seqOf = (f: { kind: number; seq: number } | null): FrameSeq | null => (f === null ? null : { seq: f.seq, labelSet: f.kind === KIND_LABEL_SET });
  const lookup: FrameLookup = {
    frameAt: async (segment, offset) => seqOf(await frameAt(await handle(segment), offset, bySegment.get(segment)!.bytes)),
    frameEndingAt: async (segment, offset) => seqOf(await frameEndingAt(await handle(segment), offset)),
    firstFrame: async (segment) => {
      const r = await scanFrames(await handle(segment), HEADER_BYTES, bySegment.get(segment)!.bytes, { maxRecords: 1, maxBytes: 1 }, null);
      return seqOf(r.frames[0] ?? null);
    },
  };
  try {
    return await judgeCursor(survey.cursor.cursor, survey.segments.map(surveyed), lookup);
  } finally {
    for (const fh of handles.values()) await fh.close();
  }
}
