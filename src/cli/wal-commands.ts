/**
 * `logstack wal verify|stat|dump DIR`: tools for an operator facing a WAL, safe beside a running
 * service — they read only, never take the lock (see src/wal/wal-inspector.ts).
 * Exit codes: 0 clean; 1 damage found (verify) or the WAL could not be read; 2 usage.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { DeadLetterStore } from '../forwarder/dead-letter-store.js';
import { decodeEntryPayload } from '../loki/entry-codec.js';
import { timestampNs } from '../loki/entry.js';
import type { CursorRead } from '../wal/cursor-file.js';
import { HEADER_BYTES } from '../wal/segment-format.js';
import type { WalPosition } from '../wal/types.js';
import { backlogOf, isLockHeld, locateWal, resumePosition, snapshotToken, walkRecords, type TokenSnapshot, type WalEvent, type WalLocation } from '../wal/wal-inspector.js';
import { verifyToken, type SegmentCheck, type TokenVerification } from '../wal/wal-verification.js';
import { formatAge, formatBytes } from './text-format.js';

const WAL_USAGE = `Usage: logstack wal <command> DIR [options]

DIR is a WAL root (wal.wal_root_path) or one token directory in it. The commands only read:
they never take the WAL lock and are safe while LogStack runs.

Commands:
  verify DIR [--json]   check segment headers, every record's CRC, seq continuity, the cursors
                        and leftovers; exit 1 on damage
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
  return `WAL root ${root} (${lockHeld ? 'locked: a LogStack process is running' : 'not locked'})\n`;
}

function cursorJson(read: CursorRead): Record<string, unknown> {
  if (read.kind === 'ok') return { state: 'ok', segment: read.cursor.segment, offset: read.cursor.offset, acked_seq: read.cursor.ackedSeq };
  return read.kind === 'invalid' ? { state: 'invalid', reason: read.reason } : { state: 'missing' };
}

function cursorText(read: CursorRead): string {
  if (read.kind === 'ok') return `segment ${read.cursor.segment} offset ${read.cursor.offset}, acked seq ${read.cursor.ackedSeq}`;
  return read.kind === 'invalid' ? `unreadable (${read.reason})` : 'none yet';
}

// --- verify ------------------------------------------------------------------------------------

function segmentText(s: SegmentCheck): string {
  if (s.vanished) return 'deleted while being checked (delivered)';
  if (s.headerError !== null) return `${s.bytes} bytes, bad header`;
  const seqs = s.records === 0 ? 'no records' : `seq ${s.firstSeq}-${s.lastSeq} (${s.records} records)`;
  const created = s.header ? `, created ${new Date(s.header.createdAtMs).toISOString()}` : '';
  return `${s.bytes} bytes, ${seqs}${created}`;
}

function verificationText(v: TokenVerification): string {
  let out = `token ${v.name}: ${v.damaged ? 'DAMAGED' : 'ok'}\n`;
  for (const s of v.segments) out += `  segment ${s.segment}: ${segmentText(s)}\n`;
  out += `  cursor: ${cursorText(v.cursor)}\n`;
  for (const f of v.findings) out += `  ${f.severity === 'damage' ? 'DAMAGE' : f.severity}: ${f.message}\n`;
  return out;
}

function verificationJson(v: TokenVerification): Record<string, unknown> {
  return {
    name: v.name,
    dir: v.dir,
    damaged: v.damaged,
    cursor: cursorJson(v.cursor),
    segments: v.segments.map((s) => ({
      segment: s.segment,
      bytes: s.bytes,
      created_at: s.header ? new Date(s.header.createdAtMs).toISOString() : null,
      header_error: s.headerError,
      vanished: s.vanished,
      records: s.records,
      first_seq: s.firstSeq,
      last_seq: s.lastSeq,
      corrupt: s.corrupt,
      torn_tail: s.tornTail,
    })),
    leftovers: v.leftovers,
    findings: v.findings,
  };
}

async function verify(wal: WalLocation, args: WalArgs): Promise<number> {
  const lockHeld = await isLockHeld(wal.root, Date.now());
  const results: TokenVerification[] = [];
  for (const t of wal.tokens) results.push(await verifyToken(await snapshotToken(t), lockHeld));
  const damaged = results.filter((r) => r.damaged).length;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ root: wal.root, lock_held: lockHeld, damaged: damaged > 0, tokens: results.map(verificationJson) })}\n`);
  } else {
    process.stdout.write(lockLine(wal.root, lockHeld) + results.map(verificationText).join(''));
    process.stdout.write(`${results.length} token${results.length === 1 ? '' : 's'} checked, ${damaged} damaged\n`);
  }
  return damaged > 0 ? 1 : 0;
}

// --- stat --------------------------------------------------------------------------------------

async function deadLetterEntries(tokenDir: string): Promise<number> {
  // open() only reads the files; the quota matters to writes, which never happen here.
  const store = new DeadLetterStore(join(tokenDir, 'dead-letter'), Number.POSITIVE_INFINITY);
  await store.open();
  return store.count();
}

interface TokenStat {
  readonly json: Record<string, unknown>;
  readonly text: string;
}

async function statToken(snapshot: TokenSnapshot, nowMs: number): Promise<TokenStat> {
  const backlog = await backlogOf(snapshot);
  const diskBytes = snapshot.segments.reduce((n, s) => n + s.bytes, 0);
  const deadLetters = await deadLetterEntries(snapshot.dir);
  const oldest = backlog.oldestAppendedAtMs;
  const json = {
    name: snapshot.name,
    segments: snapshot.segments.length,
    disk_bytes: diskBytes,
    pending_entries: backlog.entries,
    pending_bytes: backlog.bytes,
    oldest_unshipped_appended_at: oldest === null ? null : new Date(oldest).toISOString(),
    oldest_unshipped_age_seconds: oldest === null ? null : Math.max(0, (nowMs - oldest) / 1000),
    cursor: cursorJson(snapshot.cursor),
    resume_at: backlog.from,
    corrupt_records: backlog.corruptRecords,
    dead_letters: deadLetters,
  };
  const rows: Array<[string, string]> = [
    ['segments', `${snapshot.segments.length} (${formatBytes(diskBytes)} on disk)`],
    ['pending', `${backlog.entries} entries, ${formatBytes(backlog.bytes)}`],
    ['oldest unshipped', oldest === null ? '-' : `${new Date(oldest).toISOString()} (${formatAge(nowMs - oldest)} ago)`],
    ['cursor', cursorText(snapshot.cursor)],
    ['dead letters', String(deadLetters)],
  ];
  if (backlog.corruptRecords > 0) rows.push(['corrupt records', `${backlog.corruptRecords} after the cursor (run logstack wal verify)`]);
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
        entry = decodeEntryPayload(e.payload);
      } catch (err) {
        // The CRC held, so these are the bytes as written: show them rather than guess.
        return { ...head, undecodable: (err as Error).message, payload_base64: e.payload.toString('base64') };
      }
      return {
        ...head,
        labels: entry.labels,
        ts_ns: timestampNs(entry.seconds, entry.nanos),
        line: entry.line,
        structured_metadata: Object.fromEntries(entry.structuredMetadata),
      };
    }
    case 'corrupt':
      return { segment: e.segment, offset: e.offset, corrupt: e.reason };
    case 'torn-tail':
      return { segment: e.segment, offset: e.offset, corrupt: `torn tail: ${e.bytes} bytes, ${lockHeld ? 'possibly a write in progress' : 'will be truncated at next start'}` };
    case 'bad-header':
      return { segment: e.segment, offset: 0, corrupt: `bad header: ${e.reason}` };
    default:
      return null;
  }
}

function dumpStart(snapshot: TokenSnapshot, from: WalArgs['from']): WalPosition | string {
  if (from === null) return resumePosition(snapshot);
  const first = snapshot.segments[0];
  if (from === 'start') return { segment: first?.segment ?? 0, offset: HEADER_BYTES };
  const seg = snapshot.segments.find((s) => s.segment === from.segment);
  const range = first ? `it has segments ${first.segment} to ${snapshot.segments.at(-1)!.segment}` : 'it has no segments';
  if (!seg) return `token ${snapshot.name} has no segment ${from.segment}; ${range}`;
  if (from.offset > seg.bytes) return `segment ${from.segment} of token ${snapshot.name} is ${seg.bytes} bytes; offset ${from.offset} is past its end`;
  return from;
}

async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

async function dump(wal: WalLocation, args: WalArgs): Promise<number> {
  const names = wal.tokens.map((t) => t.name);
  const token = args.token === null ? (wal.tokens.length === 1 ? wal.tokens[0] : undefined) : wal.tokens.find((t) => t.name === args.token);
  if (!token) {
    const known = names.length > 0 ? `; its tokens: ${names.join(', ')}` : '';
    return argumentError(args.token === null ? `wal dump needs --token NAME${known}` : `no token ${args.token} in ${wal.root}${known}`);
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
  for await (const e of walkRecords(snapshot, from)) {
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
