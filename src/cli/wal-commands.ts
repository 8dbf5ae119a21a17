/**
 * `logstack wal verify|stat|dump DIR`: tools for an operator facing a WAL, safe beside a running
 * service — they read only, never take the lock (see src/wal/wal-inspector.ts).
 * Exit codes: 0 clean; 1 damage or warnings found (verify) or the WAL could not be read; 2 usage.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { DeadLetterStore } from '../forwarder/dead-letter-store.js';
import { decodeEntryAdapter } from '../loki/entry-codec.js';
import { timestampNs } from '../loki/entry.js';
import type { CursorRead } from '../wal/cursor-file.js';
import { printableName } from '../wal/printable-name.js';
import { HEADER_BYTES } from '../wal/segment-format.js';
import { DEAD_LETTER_DIR } from '../wal/token-dir-survey.js';
import type { WalPosition } from '../wal/types.js';
import { backlogOf, isLockHeld, locateWal, snapshotToken, walkRecords, type TokenSnapshot, type WalEvent, type WalLocation } from '../wal/wal-inspector.js';
import { verifyToken, type CursorState, type SegmentCheck, type TokenVerification } from '../wal/wal-verification.js';
import { formatAge, formatBytes } from './text-format.js';

const WAL_USAGE = `Usage: logstack wal <command> DIR [options]

DIR is a WAL root (wal.wal_root_path) or one token directory in it. The commands only read:
they never take the WAL lock and are safe while LogStack runs.

Commands:
  verify DIR [--json]   check segment headers, every record's CRC and label set, seq
                        continuity, the cursors, leftovers and files that are not the WAL's;
                        say what the next start does and what is lost; exit 1 on damage or
                        warnings
  stat DIR [--json]     per token: segments, bytes, backlog, oldest unshipped entry, cursor,
                        dead letters
  dump DIR --token NAME [--from SEGMENT:OFFSET | --from-start] [--limit N]
                        one token's records as JSON lines, from its cursor unless told otherwise
                        (--token may be left out when DIR holds a single token)
`;

type Command = 'verify' | 'stat' | 'dump';

interface WalArgs {
  dir: string;
  json: boolean;
  token: string | null;
  from: WalPosition | 'start' | null;
  limit: number | null;
}

const OPTIONS: Record<Command, readonly string[]> = {
  verify: ['--json'],
  stat: ['--json'],
  dump: ['--token', '--from', '--from-start', '--limit'],
};
const TAKES_VALUE = new Set(['--token', '--from', '--limit']);
const POSITION = /^(\d+):(\d+)$/;
/** JSON text gathered before a write: one write per line would be a syscall per record. */
const DUMP_CHUNK_BYTES = 64 * 1024;

function parseArgs(command: Command, args: readonly string[]): WalArgs | string {
  let dir: string | null = null;
  const out: Omit<WalArgs, 'dir'> = { json: false, token: null, from: null, limit: null };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      if (dir !== null) return `unexpected argument ${arg}`;
      dir = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (!OPTIONS[command].includes(flag)) return `unknown option ${flag} for wal ${command}`;
    let value = '';
    if (TAKES_VALUE.has(flag)) {
      value = (eq < 0 ? args[++i] : arg.slice(eq + 1)) ?? '';
      if (value === '') return `${flag} needs a value`;
    } else if (eq >= 0) {
      return `${flag} takes no value`;
    }
    if (flag === '--json') out.json = true;
    else if (flag === '--token') out.token = value;
    else if (flag === '--limit') {
      if (!/^[1-9]\d*$/.test(value)) return `--limit needs a positive whole number, not ${value}`;
      out.limit = Number(value);
    } else {
      if (out.from !== null) return 'use --from or --from-start, not both';
      const m = POSITION.exec(value);
      if (flag === '--from' && !m) return `--from needs SEGMENT:OFFSET, not ${value}`;
      out.from = m ? { segment: Number(m[1]), offset: Number(m[2]) } : 'start';
    }
  }
  if (dir === null) return `wal ${command} needs a WAL directory`;
  return { dir, ...out };
}

function lockLine(root: string, lockHeld: boolean): string {
  return `WAL root ${printableName(root)} (${lockHeld ? 'locked: a LogStack process is running' : 'not locked'})\n`;
}

function cursorJson(read: CursorRead): Record<string, unknown> {
  if (read.kind === 'ok') return { state: 'ok', segment: read.cursor.segment, offset: read.cursor.offset, acked_seq: read.cursor.ackedSeq };
  return read.kind === 'invalid' ? { state: 'invalid', reason: read.reason } : { state: read.kind };
}

function cursorText(read: CursorRead): string {
  if (read.kind === 'ok') return `segment ${read.cursor.segment} offset ${read.cursor.offset}, acked seq ${read.cursor.ackedSeq}`;
  if (read.kind === 'invalid') return `unreadable (${read.reason})`;
  return read.kind === 'none' ? 'none yet' : 'no cursor file';
}

// --- verify ------------------------------------------------------------------------------------

function segmentText(s: SegmentCheck): string {
  if (s.vanished) return 'deleted while being checked (delivered)';
  const header = s.headerError !== null ? `, bad header` : s.header ? `, created ${new Date(s.header.createdAtMs).toISOString()}` : '';
  if (s.passed) return `${s.bytes} bytes, before the cursor (delivered)${header}`;
  const seqs = s.records === 0 ? 'no records' : `seq ${s.firstSeq}-${s.lastSeq} (${s.records} records)`;
  return `${s.bytes} bytes, ${seqs}${header}`;
}

function cursorStateText(c: CursorState): string {
  if (c.state === 'used') return `used: delivery resumes at segment ${c.resumeAt.segment} offset ${c.resumeAt.offset}`;
  if (c.state === 'none') return 'nothing delivered yet: delivery starts at the oldest segment';
  return c.state === 'missing' ? 'no cursor file: delivery starts at the oldest segment' : `not used (${c.reason})`;
}

function verificationText(v: TokenVerification): string {
  let out = `token ${v.name}: ${v.damaged ? 'DAMAGED' : 'ok'}${v.lostEntries > 0 ? `, ${v.lostEntries} entries lost` : ''}\n`;
  for (const s of v.segments) out += `  segment ${s.segment}: ${segmentText(s)}\n`;
  out += `  cursor: ${cursorText(v.cursor)}; ${cursorStateText(v.cursorState)}\n`;
  for (const f of v.findings) out += `  ${f.severity === 'damage' ? 'DAMAGE' : f.severity}: ${f.message}\n`;
  return out;
}

function verificationJson(v: TokenVerification): Record<string, unknown> {
  return {
    name: v.name,
    dir: v.dir,
    damaged: v.damaged,
    lost_entries: v.lostEntries,
    cursor: { ...cursorJson(v.cursor), ...(v.cursorState.state === 'not-used' ? { used: false, reason: v.cursorState.reason } : { used: v.cursorState.state === 'used' }) },
    resume_at: v.resumeAt,
    segments: v.segments.map((s) => ({
      segment: s.segment,
      bytes: s.bytes,
      created_at: s.header ? new Date(s.header.createdAtMs).toISOString() : null,
      format_version: s.header?.version ?? null,
      header_error: s.headerError,
      passed: s.passed,
      vanished: s.vanished,
      records: s.records,
      first_seq: s.firstSeq,
      last_seq: s.lastSeq,
      damage: s.damage.map((d) => ({ offset: d.at.offset, bytes: d.bytes, entries_lost: d.entries, reason: d.reason })),
      torn_tail: s.tornTail,
    })),
    set_aside: v.setAside,
    leftovers: v.leftovers,
    findings: v.findings,
  };
}

async function deadLetterProblems(tokenDir: string): Promise<readonly string[]> {
  const store = readOnlyDeadLetters(tokenDir);
  await store.open();
  return store.problems();
}

/** The dead-letter store's problems as findings of the token's verification. */
function withDeadLetters(v: TokenVerification, problems: readonly string[]): TokenVerification {
  if (problems.length === 0) return v;
  return { ...v, damaged: true, findings: [...v.findings, ...problems.map((p) => ({ severity: 'warning' as const, message: `${DEAD_LETTER_DIR}: ${p}` }))] };
}

async function verify(wal: WalLocation, args: WalArgs): Promise<number> {
  const lockHeld = await isLockHeld(wal.root, Date.now());
  const results: TokenVerification[] = [];
  for (const t of wal.tokens) results.push(withDeadLetters(await verifyToken(await snapshotToken(t), lockHeld), await deadLetterProblems(t.dir)));
  const damaged = results.filter((r) => r.damaged).length;
  const lost = results.reduce((n, r) => n + r.lostEntries, 0);
  const ignored = wal.ignored.map(({ name, reason }) => ({ severity: 'warning' as const, message: `${name} (in the WAL root): ${reason}; left alone` }));
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ root: wal.root, lock_held: lockHeld, damaged: damaged > 0 || ignored.length > 0, lost_entries: lost, ignored: wal.ignored, tokens: results.map(verificationJson) })}\n`);
  } else {
    process.stdout.write(lockLine(wal.root, lockHeld) + ignored.map((f) => `warning: ${f.message}\n`).join('') + results.map(verificationText).join(''));
    process.stdout.write(`${results.length} token${results.length === 1 ? '' : 's'} checked, ${damaged} damaged, ${lost} entries lost${ignored.length > 0 ? `, ${ignored.length} entries of the root left alone` : ''}\n`);
  }
  return damaged > 0 || ignored.length > 0 ? 1 : 0;
}

// --- stat --------------------------------------------------------------------------------------

function readOnlyDeadLetters(tokenDir: string): DeadLetterStore {
  // The quota matters to writes, which never happen here.
  return new DeadLetterStore(join(tokenDir, DEAD_LETTER_DIR), Number.POSITIVE_INFINITY, { readOnly: true });
}

async function deadLetterEntries(tokenDir: string): Promise<number> {
  const store = readOnlyDeadLetters(tokenDir);
  await store.open();
  return store.count();
}

interface TokenStat {
  readonly json: Record<string, unknown>;
  readonly text: string;
}

async function statToken(snapshot: TokenSnapshot, nowMs: number): Promise<TokenStat> {
  const backlog = await backlogOf(snapshot);
  const { segments, cursor } = snapshot.survey;
  const diskBytes = segments.reduce((n, s) => n + s.bytes, 0);
  const deadLetters = await deadLetterEntries(snapshot.dir);
  const oldest = backlog.oldestAppendedAtMs;
  const json = {
    name: snapshot.name,
    segments: segments.length,
    disk_bytes: diskBytes,
    pending_entries: backlog.entries,
    pending_bytes: backlog.bytes,
    oldest_unshipped_appended_at: oldest === null ? null : new Date(oldest).toISOString(),
    oldest_unshipped_age_seconds: oldest === null ? null : Math.max(0, (nowMs - oldest) / 1000),
    cursor: cursorJson(cursor),
    resume_at: backlog.from,
    corrupt_records: backlog.lostEntries,
    dead_letters: deadLetters,
  };
  const rows: Array<[string, string]> = [
    ['segments', `${segments.length} (${formatBytes(diskBytes)} on disk)`],
    ['pending', `${backlog.entries} entries, ${formatBytes(backlog.bytes)}`],
    ['oldest unshipped', oldest === null ? '-' : `${new Date(oldest).toISOString()} (${formatAge(nowMs - oldest)} ago)`],
    ['cursor', cursorText(cursor)],
    ['dead letters', String(deadLetters)],
  ];
  if (backlog.lostEntries > 0) rows.push(['lost entries', `${backlog.lostEntries} after the cursor (run logstack wal verify)`]);
  const text = `token ${snapshot.name}\n${rows.map(([k, v]) => `  ${k.padEnd(18)}${v}\n`).join('')}`;
  return { json, text };
}

async function stat(wal: WalLocation, args: WalArgs): Promise<number> {
  const nowMs = Date.now();
  const lockHeld = await isLockHeld(wal.root, nowMs);
  const stats: TokenStat[] = [];
  for (const t of wal.tokens) stats.push(await statToken(await snapshotToken(t), nowMs));
  if (args.json) process.stdout.write(`${JSON.stringify({ root: wal.root, lock_held: lockHeld, tokens: stats.map((s) => s.json) })}\n`);
  else process.stdout.write(lockLine(wal.root, lockHeld) + stats.map((s) => s.text).join(''));
  return 0;
}

// --- dump --------------------------------------------------------------------------------------

function dumpLine(e: WalEvent, lockHeld: boolean): Record<string, unknown> | null {
  switch (e.kind) {
    case 'record': {
      const head = { segment: e.segment, offset: e.offset, seq: e.seq, appended_at: new Date(e.appendedAtMs).toISOString() };
      let entry;
      try {
        entry = decodeEntryAdapter(e.entry, e.labels);
      } catch (err) {
        // The CRC held, so these are the bytes as written: show them rather than guess.
        return { ...head, labels: e.labels, undecodable: (err as Error).message, entry_base64: e.entry.toString('base64') };
      }
      return {
        ...head,
        labels: entry.labels,
        ts_ns: timestampNs(entry.seconds, entry.nanos),
        line: entry.line,
        structured_metadata: Object.fromEntries(entry.structuredMetadata),
      };
    }
    case 'damage':
      return { segment: e.note.at.segment, offset: e.note.at.offset, corrupt: e.note.reason, bytes: e.note.bytes, entries_lost: e.note.entries };
    case 'torn-tail':
      return { segment: e.segment, offset: e.offset, corrupt: `torn tail: ${e.bytes} bytes, ${lockHeld ? 'possibly a write in progress' : 'will be truncated at next start'}` };
    case 'segment':
      return e.headerError === null ? null : { segment: e.segment, offset: 0, corrupt: `bad header: ${e.headerError}` };
    default:
      return null;
  }
}

function dumpStart(snapshot: TokenSnapshot, from: WalArgs['from']): { at: WalPosition; afterSeq: number | null } | string {
  if (from === null) return snapshot.resume;
  const { segments } = snapshot.survey;
  const first = segments[0];
  if (from === 'start') return { at: { segment: first?.segment ?? 0, offset: HEADER_BYTES }, afterSeq: null };
  const seg = segments.find((s) => s.segment === from.segment);
  const range = first ? `it has segments ${first.segment} to ${segments.at(-1)!.segment}` : 'it has no segments';
  if (!seg) return `token ${snapshot.name} has no segment ${from.segment}; ${range}`;
  if (from.offset > seg.bytes) return `segment ${from.segment} of token ${snapshot.name} is ${seg.bytes} bytes; offset ${from.offset} is past its end`;
  return { at: from, afterSeq: null };
}

async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

async function dump(wal: WalLocation, args: WalArgs): Promise<number> {
  const names = wal.tokens.map((t) => t.name);
  const token = args.token === null ? (wal.tokens.length === 1 ? wal.tokens[0] : undefined) : wal.tokens.find((t) => t.name === args.token);
  if (!token) {
    const known = names.length > 0 ? `; its tokens: ${names.join(', ')}` : '';
    return argumentError(args.token === null ? `wal dump needs --token NAME${known}` : `no token ${printableName(args.token)} in ${printableName(wal.root)}${known}`);
  }
  const snapshot = await snapshotToken(token);
  const from = dumpStart(snapshot, args.from);
  if (typeof from === 'string') return argumentError(from);
  const lockHeld = await isLockHeld(wal.root, Date.now());

  // A reader that went away (`| head`) ends the dump; it is not an error.
  let closed = false;
  process.stdout.on('error', () => {
    closed = true;
  });
  let records = 0;
  let chunk = '';
  for await (const e of walkRecords(snapshot, from.at, from.afterSeq)) {
    const line = dumpLine(e, lockHeld);
    if (line === null) continue;
    chunk += `${JSON.stringify(line)}\n`;
    if (e.kind === 'record') records++;
    if (chunk.length >= DUMP_CHUNK_BYTES) {
      await writeOut(chunk).catch(() => (closed = true));
      chunk = '';
    }
    if (closed || records === args.limit) break;
  }
  if (!closed && chunk) await writeOut(chunk).catch(() => {});
  return 0;
}

// --- dispatch ----------------------------------------------------------------------------------

function usageError(message: string): number {
  process.stderr.write(`logstack: ${message}\n\n${WAL_USAGE}`);
  return 2;
}

/** DIR, a token or a position that is not there: the arguments are wrong, their syntax is not. */
function argumentError(message: string): number {
  process.stderr.write(`logstack: ${message}\n`);
  return 2;
}

/** `logstack wal …`; `args` are what follows `wal`. */
export async function walCommand(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'help' || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(WAL_USAGE);
    return 0;
  }
  if (command !== 'verify' && command !== 'stat' && command !== 'dump') return usageError(command === undefined ? 'wal needs a command' : `unknown wal command ${command}`);
  const parsed = parseArgs(command, rest);
  if (typeof parsed === 'string') return usageError(parsed);
  try {
    const wal = await locateWal(parsed.dir);
    if (typeof wal === 'string') return argumentError(wal);
    if (command === 'verify') return await verify(wal, parsed);
    if (command === 'stat') return await stat(wal, parsed);
    return await dump(wal, parsed);
  } catch (err) {
    process.stderr.write(`logstack: wal ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}
