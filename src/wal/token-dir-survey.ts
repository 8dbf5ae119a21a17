/**
 * What a token's WAL directory holds, sorted out: its segment files (with their headers), its
 * cursor, the leftovers of its own interrupted writes, and everything else — files and folders
 * that are not the WAL's, which are set aside (left where they are, reported once) and never
 * take the token down. Read-only: the service at start and `logstack wal` survey alike.
 *
 * A segment file is a regular file named `<16 digits>.wal` whose number fits the header's
 * 48-bit field. A damaged header costs the header, not the records: the number is in the name,
 * the first seq in the first good record, and the frames say which version wrote them.
 */
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { judgeCursor, type CursorJudgement, type FrameLookup, type FrameSeq, type SurveyedSegment } from './cursor-check.js';
import { CURSOR_FILE, readCursor, type CursorRead } from './cursor-file.js';
import { frameAt, frameEndingAt, readRange, scanFrames } from './frame-scanner.js';
import { printableName } from './printable-name.js';
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
}

export interface SetAside {
  /** Printable (printable-name.ts). */
  readonly name: string;
  readonly reason: string;
}

export interface TokenDirSurvey {
  readonly cursor: CursorRead;
  /** Ascending by segment number. */
  readonly segments: readonly SegmentFile[];
  /** Temp files of writes a crash interrupted: the WAL's own, removed at the next start. */
  readonly leftovers: readonly string[];
  readonly setAside: readonly SetAside[];
}

function setAsideReason(name: string, kind: 'file' | 'directory' | 'other'): string {
  if (name.endsWith('.wal.damaged')) return 'a segment an earlier release set aside for a bad header: its records were not delivered; rename it back while LogStack is stopped to have them read';
  if (looksLikeSegmentFileName(name)) return kind === 'file' ? 'named like a segment, but its number is out of range (1 to 2^48 - 1)' : `a ${kind === 'directory' ? 'folder' : 'non-file'} named like a segment`;
  return `not a file of the WAL (a ${kind === 'directory' ? 'folder' : kind === 'file' ? 'file' : 'special file or link'})`;
}

async function readHeader(file: string): Promise<{ bytes: number; header: SegmentHeader | null; headerError: string | null } | null> {
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
    return typeof decoded === 'string' ? { bytes, header: null, headerError: decoded } : { bytes, header: decoded, headerError: null };
  } finally {
    await fh.close();
  }
}

export async function surveyTokenDir(dir: string): Promise<TokenDirSurvey> {
  // The cursor before the listing: the service moves it before it deletes what it passed.
  const cursor = await readCursor(dir);
  const entries = await readdir(dir, { withFileTypes: true });
  const segments: SegmentFile[] = [];
  const leftovers: string[] = [];
  const setAside: SetAside[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const kind = e.isFile() ? 'file' : e.isDirectory() ? 'directory' : 'other';
    if (e.name === CURSOR_FILE && kind === 'file') continue;
    if (e.name === DEAD_LETTER_DIR && kind === 'directory') continue;
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
    const read = await readHeader(file);
    if (!read) continue;
    let headerError = read.headerError;
    if (read.header && read.header.segment !== n) headerError = `header names segment ${read.header.segment}`;
    segments.push({ segment: n, file, bytes: read.bytes, header: headerError === null ? read.header : null, headerError });
  }
  segments.sort((a, b) => a.segment - b.segment);
  return { cursor, segments, leftovers, setAside };
}

export function surveyed(s: SegmentFile): SurveyedSegment {
  return { segment: s.segment, bytes: s.bytes, headerFirstSeq: s.header?.firstSeq ?? null };
}

/** The survey's cursor judged against its segments (cursor-check.ts); null when there is no cursor to judge. */
export async function judgeSurveyedCursor(survey: TokenDirSurvey): Promise<CursorJudgement | null> {
  if (survey.cursor.kind !== 'ok') return null;
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
