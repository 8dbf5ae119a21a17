/**
 * A full check of one token's WAL, in the spirit of Logstash's `pqcheck`: every segment header,
 * every frame and CRC, seq continuity, label sets, the cursor, files that are not the WAL's.
 * Read-only (see wal-inspector.ts), and judged with the service's own code, so it reports what
 * the next start does: which cursor it uses, where delivery resumes, and exactly how many
 * entries are lost. A verify that says ok and a start that loses data would be a bug.
 *
 * Damage is what loses data or costs metadata: a bad header, a record that fails its CRC, a
 * label set unreadable in both its copies, a cursor that cannot be used. Files that are not the
 * WAL's are warnings: the service leaves them alone. A torn tail at the end of the last segment
 * is a note: the half-written group of a crash (the next start truncates it, nothing
 * acknowledged is in it) or, beside a running service, a write in progress.
 */
import type { CursorRead } from './cursor-file.js';
import { segmentFileName, type SegmentHeader } from './segment-format.js';
import { SET_ASIDE_SUFFIX } from './set-aside.js';
import type { SetAside } from './token-dir-survey.js';
import type { DamageNote, WalPosition } from './types.js';
import { walkRecords, type TokenSnapshot } from './wal-inspector.js';

export interface SegmentCheck {
  readonly segment: number;
  readonly bytes: number;
  readonly header: SegmentHeader | null;
  readonly headerError: string | null;
  /** Before where delivery resumes, past a cursor that agrees with the segments: delivered, deleted at the next start. */
  readonly passed: boolean;
  /** Deleted while being checked: the running service delivered it. */
  vanished: boolean;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  readonly damage: DamageNote[];
  tornTail: { readonly offset: number; readonly bytes: number } | null;
}

export type Severity = 'damage' | 'warning' | 'note';

export interface Finding {
  readonly severity: Severity;
  readonly message: string;
}

export type CursorState =
  | { readonly state: 'used'; readonly resumeAt: WalPosition }
  /** None written yet: nothing was delivered. */
  | { readonly state: 'none' }
  /** No cursor file: delivery starts at the oldest segment, not knowing what was before it. */
  | { readonly state: 'missing' }
  | { readonly state: 'not-used'; readonly reason: string };

export interface TokenVerification {
  readonly name: string;
  readonly dir: string;
  readonly segments: readonly SegmentCheck[];
  readonly cursor: CursorRead;
  readonly cursorState: CursorState;
  /** Where the next start resumes delivery. */
  readonly resumeAt: WalPosition;
  /** Entries lost to damage after that point: what the service counts as it delivers. */
  readonly lostEntries: number;
  readonly setAside: readonly SetAside[];
  readonly leftovers: readonly string[];
  readonly findings: readonly Finding[];
  /** Damage or warnings found. */
  readonly damaged: boolean;
}

function plural(n: number, word: string): string {
  if (n === 1) return `${n} ${word}`;
  return `${n} ${word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`;
}

function cursorStateOf(snapshot: TokenSnapshot): CursorState {
  const { survey, judgement } = snapshot;
  if (survey.cursor.kind === 'none') return { state: 'none' };
  if (survey.cursor.kind === 'missing') return { state: 'missing' };
  if (survey.cursor.kind === 'invalid') return { state: 'not-used', reason: `unreadable: ${survey.cursor.reason}` };
  if (judgement?.kind === 'distrusted') return { state: 'not-used', reason: `does not agree with the segments: ${judgement.reason}` };
  return { state: 'used', resumeAt: snapshot.resume.at };
}

/** Scans everything; `lockHeld` says a running service may be writing the last segment. */
export async function verifyToken(snapshot: TokenSnapshot, lockHeld: boolean): Promise<TokenVerification> {
  const { survey, resume } = snapshot;
  const checks = new Map<number, SegmentCheck>();
  for (const s of survey.segments) {
    checks.set(s.segment, {
      segment: s.segment,
      bytes: s.bytes,
      header: s.header,
      headerError: s.headerError,
      passed: s.segment < resume.at.segment,
      vanished: false,
      records: 0,
      firstSeq: null,
      lastSeq: null,
      damage: [],
      tornTail: null,
    });
  }
  const cursorState = cursorStateOf(snapshot);
  const findings: Finding[] = [];
  let lostEntries = 0;

  // The delivered start of the resume segment, listed but not counted: its damage costs nothing.
  let deliveredDamage = 0;
  if (resume.at.offset > 0 && checks.has(resume.at.segment)) {
    for await (const e of walkRecords(snapshot, { segment: resume.at.segment, offset: 0 }, null, resume.at)) {
      if (e.kind === 'record') count(checks.get(e.segment)!, e.seq);
      else if (e.kind === 'damage') deliveredDamage++;
    }
  }
  let seen = resume.afterSeq ?? 0;
  for await (const e of walkRecords(snapshot, resume.at, resume.afterSeq)) {
    switch (e.kind) {
      case 'vanished':
        checks.get(e.segment)!.vanished = true;
        break;
      case 'record':
        count(checks.get(e.segment)!, e.seq);
        seen = Math.max(seen, e.seq);
        break;
      case 'damage':
        checks.get(e.note.at.segment)?.damage.push(e.note);
        lostEntries += e.note.entries;
        break;
      case 'torn-tail':
        checks.get(e.segment)!.tornTail = { offset: e.offset, bytes: e.bytes };
        break;
      case 'segment':
        break;
    }
  }

  // Where the WAL ended when its cursor was last written (every acknowledgement, a clean stop):
  // entries up to there were acknowledged, so what is missing at the end is lost, as the start counts it.
  // A segment that vanished while it was read was delivered and deleted by the process running
  // beside this check: the walk did not see its entries, so a shortfall proves no loss.
  const end = snapshot.judgement?.kind === 'trusted' && survey.cursor.kind === 'ok' ? survey.cursor.durableEnd : undefined;
  const changedMeanwhile = [...checks.values()].some((check) => check.vanished);
  const lastCheck = [...checks.values()].at(-1);
  if (end && end.lastSeq > seen && lastCheck && !changedMeanwhile) {
    const lost = end.lastSeq - seen;
    lostEntries += lost;
    const at = lastCheck.tornTail?.offset ?? lastCheck.bytes;
    lastCheck.damage.push({
      at: { segment: lastCheck.segment, offset: at },
      entries: lost,
      bytes: lastCheck.tornTail?.bytes ?? 0,
      reason: `entries ${seen + 1}-${end.lastSeq} were acknowledged and are not on disk: the WAL ended at segment ${end.segment} offset ${end.offset} when the cursor was last written${lastCheck.tornTail ? '; the damaged bytes are cut at the next start and kept' : ''}`,
      resumedAt: { segment: lastCheck.segment, offset: at },
    });
    lastCheck.tornTail = null;
  }

  const segments = [...checks.values()];
  if (segments.length === 0) findings.push({ severity: 'note', message: 'no segments' });
  const passed = segments.filter((s) => s.passed);
  if (passed.length > 0) findings.push({ severity: 'note', message: `${plural(passed.length, 'segment')} before the cursor: delivered, deleted at the next start` });
  if (deliveredDamage > 0) findings.push({ severity: 'note', message: `${plural(deliveredDamage, 'damaged place')} before the cursor, in entries already delivered` });
  for (const s of segments.filter((x) => !x.passed)) {
    const at = `segment ${s.segment}`;
    if (s.headerError !== null) findings.push({ severity: 'damage', message: `${at}: bad header (${s.headerError}); its records are read all the same` });
    for (const d of s.damage) {
      const cost = d.entries > 0 ? `${plural(d.entries, 'entry')} lost` : 'nothing lost';
      findings.push({ severity: 'damage', message: `${at} offset ${d.at.offset}: ${cost}: ${d.reason}${d.bytes > 0 ? ` (${plural(d.bytes, 'byte')})` : ''}` });
    }
    if (s.tornTail) {
      const outlook = lockHeld ? 'possibly a write in progress' : 'truncated at the next start; a crash leaves it, nothing acknowledged is in it';
      findings.push({ severity: 'note', message: `${at} offset ${s.tornTail.offset}: torn tail: ${plural(s.tornTail.bytes, 'byte')}, ${outlook}` });
    }
  }
  for (const { segment, reason } of survey.overlapping) {
    findings.push({ severity: 'damage', message: `segment ${segment.segment}: ${reason}; not read, set aside (renamed ${segmentFileName(segment.segment)}${SET_ASIDE_SUFFIX}) at the next start` });
  }
  if (snapshot.judgement?.kind === 'trusted' && snapshot.judgement.unseen) {
    findings.push({ severity: 'note', message: `the cursor points before the oldest segment (${snapshot.judgement.resumeAt.segment}); ${snapshot.judgement.unseen}` });
  }
  if (cursorState.state === 'not-used') {
    findings.push({ severity: 'damage', message: `cursor ${cursorState.reason}; the next start redelivers from the oldest segment (Loki drops the duplicates)` });
  }
  for (const { name, reason } of survey.inTheWay) findings.push({ severity: 'warning', message: `${name}: ${reason}; set aside (renamed ${name}${SET_ASIDE_SUFFIX}) at the next start` });
  for (const { name, reason } of survey.setAside) findings.push({ severity: 'warning', message: `${name}: ${reason}; left alone` });
  for (const name of survey.leftovers) {
    findings.push({ severity: 'note', message: `${name}: ${lockHeld ? 'possibly being written' : 'left by an interrupted write, removed at the next start'}` });
  }
  return {
    name: snapshot.name,
    dir: snapshot.dir,
    segments,
    cursor: survey.cursor,
    cursorState,
    resumeAt: resume.at,
    lostEntries,
    setAside: survey.setAside,
    leftovers: survey.leftovers,
    findings,
    damaged: findings.some((f) => f.severity !== 'note'),
  };
}

function count(check: SegmentCheck, seq: number): void {
  check.records++;
  check.firstSeq ??= seq;
  check.lastSeq = seq;
}
