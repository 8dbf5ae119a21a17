/**
 * A full check of one token's WAL, in the spirit of Logstash's `pqcheck`: every segment header,
 * every frame and CRC, seq continuity, the cursor, leftovers. Read-only (see wal-inspector.ts).
 *
 * Damage is what loses or misplaces data: a bad header, a record that fails its CRC, seq going
 * backwards, a cursor that cannot be read or does not point at a record boundary. A torn tail
 * at the end of the last segment is not damage: it is the half-written group of a crash (the
 * next start truncates it, nothing acknowledged is in it) or, beside a running service, a write
 * in progress.
 */
import type { CursorRead } from './cursor-file.js';
import { HEADER_BYTES, type SegmentHeader } from './segment-format.js';
import { walkRecords, type TokenSnapshot } from './wal-inspector.js';

export interface CorruptRegion {
  readonly offset: number;
  readonly bytes: number;
  /** Records lost, from the seq gap; null when unknown. */
  readonly records: number | null;
  readonly reason: string;
}

export interface SegmentCheck {
  readonly segment: number;
  readonly bytes: number;
  header: SegmentHeader | null;
  headerError: string | null;
  /** Deleted while being checked: the running service delivered it. */
  vanished: boolean;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  readonly corrupt: CorruptRegion[];
  tornTail: { readonly offset: number; readonly bytes: number } | null;
}

export type Severity = 'damage' | 'warning' | 'note';

export interface Finding {
  readonly severity: Severity;
  readonly message: string;
}

export interface TokenVerification {
  readonly name: string;
  readonly dir: string;
  readonly segments: readonly SegmentCheck[];
  readonly cursor: CursorRead;
  readonly leftovers: readonly string[];
  readonly findings: readonly Finding[];
  readonly damaged: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Scans everything; `lockHeld` says a running service may be writing the last segment. */
export async function verifyToken(snapshot: TokenSnapshot, lockHeld: boolean): Promise<TokenVerification> {
  const checks = new Map<number, SegmentCheck>();
  for (const s of snapshot.segments) {
    checks.set(s.segment, { segment: s.segment, bytes: s.bytes, header: null, headerError: null, vanished: false, records: 0, firstSeq: null, lastSeq: null, corrupt: [], tornTail: null });
  }
  const cursor = snapshot.cursor.kind === 'ok' ? snapshot.cursor.cursor : null;
  const boundaries = new Set<number>([HEADER_BYTES]);

  for await (const e of walkRecords(snapshot, { segment: 0, offset: HEADER_BYTES })) {
    const check = checks.get(e.segment)!;
    switch (e.kind) {
      case 'segment':
        check.header = e.header;
        break;
      case 'bad-header':
        check.headerError = e.reason;
        break;
      case 'vanished':
        check.vanished = true;
        break;
      case 'record':
        check.records++;
        check.firstSeq ??= e.seq;
        check.lastSeq = e.seq;
        if (e.segment === cursor?.segment) boundaries.add(e.offset).add(e.offset + e.size);
        break;
      case 'corrupt':
        check.corrupt.push({ offset: e.offset, bytes: e.bytes, records: e.records, reason: e.reason });
        break;
      case 'torn-tail':
        check.tornTail = { offset: e.offset, bytes: e.bytes };
        break;
    }
  }

  const findings: Finding[] = [];
  const segments = [...checks.values()];
  if (segments.length === 0) findings.push({ severity: 'note', message: 'no segments' });
  let previous: SegmentCheck | null = null;
  for (const s of segments) {
    const at = `segment ${s.segment}`;
    if (s.headerError !== null) findings.push({ severity: 'damage', message: `${at}: bad header: ${s.headerError}; the next start sets it aside as .damaged` });
    for (const c of s.corrupt) {
      const lost = c.records === null ? 'records lost' : `${plural(c.records, 'record')} lost`;
      findings.push({ severity: 'damage', message: `${at} offset ${c.offset}: corrupt record: ${c.reason} (${plural(c.bytes, 'byte')}, ${lost})` });
    }
    if (s.tornTail) {
      const outlook = lockHeld ? 'possibly a write in progress' : 'will be truncated at next start';
      findings.push({ severity: 'note', message: `${at} offset ${s.tornTail.offset}: torn tail: ${plural(s.tornTail.bytes, 'byte')}, ${outlook}` });
    }
    if (s.header && previous?.header) {
      const previousEnd = previous.lastSeq ?? previous.header.firstSeq - 1;
      const damagedEnd = previous.corrupt.some((c) => c.records === null);
      if (s.header.firstSeq <= previousEnd) {
        findings.push({ severity: 'damage', message: `${at} starts at seq ${s.header.firstSeq}, not after seq ${previousEnd} of segment ${previous.segment}: seq goes backwards` });
      } else if (s.header.firstSeq > previousEnd + 1 && !damagedEnd) {
        findings.push({ severity: 'warning', message: `seq jumps from ${previousEnd} (segment ${previous.segment}) to ${s.header.firstSeq} (${at}): ${plural(s.header.firstSeq - previousEnd - 1, 'record')} missing` });
      }
    }
    previous = s.header ? s : null;
  }

  findings.push(...cursorFindings(snapshot.cursor, segments, boundaries));
  for (const name of snapshot.leftovers) {
    if (name.endsWith('.damaged')) findings.push({ severity: 'warning', message: `${name}: a segment set aside at a start for a bad header; its records were not delivered` });
    else findings.push({ severity: 'note', message: `${name}: ${lockHeld ? 'possibly being written' : 'left by an interrupted write, removed at next start'}` });
  }
  return {
    name: snapshot.name,
    dir: snapshot.dir,
    segments,
    cursor: snapshot.cursor,
    leftovers: snapshot.leftovers,
    findings,
    damaged: findings.some((f) => f.severity === 'damage'),
  };
}

function cursorFindings(read: CursorRead, segments: readonly SegmentCheck[], boundaries: ReadonlySet<number>): Finding[] {
  if (read.kind === 'missing') return [];
  if (read.kind === 'invalid') return [{ severity: 'damage', message: `cursor unreadable: ${read.reason}; the next start redelivers from the oldest segment` }];
  const { segment, offset } = read.cursor;
  const first = segments[0];
  if (first && segment < first.segment) return [{ severity: 'note', message: `cursor at segment ${segment}, before the oldest segment ${first.segment}: delivery resumes there` }];
  const target = segments.find((s) => s.segment === segment);
  if (!target) return [{ severity: 'damage', message: `cursor points at segment ${segment}, which does not exist` }];
  if (target.header === null) return [];
  if (offset > target.bytes) return [{ severity: 'damage', message: `cursor offset ${offset} is past the end of segment ${segment} (${target.bytes} bytes)` }];
  if (!boundaries.has(offset)) return [{ severity: 'damage', message: `cursor offset ${offset} in segment ${segment} is not at a record boundary` }];
  return [];
}
