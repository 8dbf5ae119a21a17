/**
 * What the admin commands print for a person at a terminal: the admin API's answers as tables
 * and short lines. Pure functions of the answer (and the clock, for ages); `--json` prints the
 * answer itself instead. A field the service did not send shows as `-`, so an older or newer
 * service still gets a readable table.
 */
import type { FlushAnswer, FlushProgress, Json } from './admin-client.js';
import { formatAge, formatBytes, formatCount, formatTable, printable } from './text-format.js';

const NONE = '-';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A string of the answer, printable (it may hold a client's text). */
function str(value: unknown): string | undefined {
  return typeof value === 'string' ? printable(value) : undefined;
}

function raw(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function records(value: unknown): Array<[string, Record<string, unknown>]> {
  if (!isRecord(value)) return [];
  return Object.entries(value)
    .filter((entry): entry is [string, Record<string, unknown>] => isRecord(entry[1]))
    .map(([name, record]): [string, Record<string, unknown>] => [printable(name), record])
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Keeps a terminal line to one line: Loki's messages may hold newlines and run long. Cut before escaping, so no escape is cut in two. */
function oneLine(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return printable(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}

function deliveryText(token: Record<string, unknown>): string {
  if (token.failed === true) return 'WAL failed';
  const state = str(token.delivery);
  if (state === undefined) return NONE;
  const failures = num(token.consecutive_failures) ?? 0;
  const next = num(token.next_attempt_in_ms) ?? 0;
  const parts = [state];
  if (failures > 0) parts.push(`${failures} failed`);
  if (next > 0) parts.push(`next try in ${formatAge(next)}`);
  return parts.length === 1 ? state : `${state} (${parts.slice(1).join(', ')})`;
}

function lastPushText(lastPush: unknown, nowMs: number): string {
  if (!isRecord(lastPush)) return NONE;
  const status = num(lastPush.status);
  const result = str(lastPush.result) ?? '';
  const answer = status === undefined ? result : result === 'success' ? String(status) : `${status} ${result}`;
  const at = Date.parse(str(lastPush.at) ?? '');
  return Number.isNaN(at) ? answer : `${answer}, ${formatAge(nowMs - at)} ago`;
}

function statusHeadline(status: Json): string {
  const parts = [`LogStack ${str(status.version) ?? '?'}`];
  const uptime = num(status.uptime_seconds);
  if (uptime !== undefined) parts.push(`up ${formatAge(uptime * 1000)}`);
  const forwarder = isRecord(status.forwarder) ? str(status.forwarder.state) : undefined;
  if (forwarder !== undefined) parts.push(`forwarder ${forwarder}`);
  if (isRecord(status.wal)) {
    const disk = isRecord(status.wal.disk) ? num(status.wal.disk.freePercent) : undefined;
    parts.push(`WAL ${str(status.wal.state) ?? NONE}${disk === undefined ? '' : `, disk ${disk.toFixed(0)}% free`}`);
  }
  let line = parts.join(', ');
  if (isRecord(status.loki)) {
    const reachable = status.loki.reachable === true ? 'reachable' : status.loki.reachable === false ? `unreachable (${oneLine(raw(status.loki.detail))})` : 'not checked yet';
    line += `\nLoki ${str(status.loki.url) ?? ''}: ${reachable}`;
  }
  return `${line}\n`;
}

/** `logstack status`: a headline, then one row per key. */
export function formatStatus(status: Json, nowMs: number): string {
  const rows = records(status.tokens).map(([name, t]) => {
    const entries = num(t.pending_entries);
    const bytes = num(t.pending_bytes);
    const oldest = num(t.oldest_pending_age_seconds);
    const dead = num(t.dead_letters);
    return [
      name,
      entries === undefined ? NONE : formatCount(entries),
      bytes === undefined ? NONE : formatBytes(bytes),
      oldest === undefined ? NONE : formatAge(oldest * 1000),
      deliveryText(t),
      lastPushText(t.last_push, nowMs),
      dead === undefined ? NONE : formatCount(dead),
    ];
  });
  const table = rows.length === 0 ? 'no keys configured\n' : formatTable(['KEY', 'BACKLOG', 'BYTES', 'OLDEST', 'DELIVERY', 'LAST PUSH', 'DEAD LETTERS'], rows);
  return `${statusHeadline(status)}\n${table}`;
}

function progressText(p: FlushProgress): string {
  if (p.delivered === true) return 'delivered';
  const left = p.pendingEntries === undefined ? 'not delivered' : `${formatCount(p.pendingEntries)} entries left`;
  const seqs = p.ackedSeq !== undefined && p.targetSeq !== undefined ? ` (delivered up to seq ${p.ackedSeq} of ${p.targetSeq})` : '';
  const health = p.health !== undefined && p.health !== 'ok' ? `, delivery ${printable(p.health)}` : '';
  return `${left}${seqs}${health}`;
}

/** Each key's progress in a flush, one line per key. */
export function formatFlushProgress(tokens: Readonly<Record<string, unknown>>): string {
  const rows = records(tokens).map(([name, p]) => `  ${name}: ${progressText(p as FlushProgress)}\n`);
  return rows.length === 0 ? '  (no keys)\n' : rows.join('');
}

/** `logstack flush`: what was asked, and for --wait what came of it. */
export function formatFlush(answer: FlushAnswer, waited: boolean): string {
  const keys = Object.keys(answer.tokens).length;
  if (!waited) {
    const pending = Object.values(answer.tokens).reduce((sum, p) => sum + (p.pendingEntries ?? 0), 0);
    return `flush started: ${keys} key${keys === 1 ? '' : 's'}, ${formatCount(pending)} entries to deliver\n${formatFlushProgress(answer.tokens)}`;
  }
  return `delivered: everything appended before the flush is at Loki (${keys} key${keys === 1 ? '' : 's'})\n${formatFlushProgress(answer.tokens)}`;
}

/** `logstack dead-letters`: per key its count, reasons and newest samples. */
export function formatDeadLetters(answer: Json): string {
  const keys = records(answer.tokens);
  if (keys.length === 0) return 'no keys configured\n';
  const rows = keys.map(([name, d]) => {
    const reasons = isRecord(d.reasons)
      ? Object.entries(d.reasons)
          .map(([reason, n]) => `${printable(reason)} ${formatCount(num(n) ?? 0)}`)
          .join(', ')
      : '';
    const entries = num(d.entries);
    const bytes = num(d.bytes);
    const dropped = num(d.droppedEntries);
    return [name, entries === undefined ? NONE : formatCount(entries), bytes === undefined ? NONE : formatBytes(bytes), dropped === undefined ? NONE : formatCount(dropped), reasons || NONE];
  });
  let out = formatTable(['KEY', 'ENTRIES', 'BYTES', 'DROPPED (quota)', 'REASONS'], rows);
  for (const [name, d] of keys) {
    const samples = Array.isArray(d.samples) ? d.samples.filter(isRecord) : [];
    if (samples.length === 0) continue;
    out += `\n${name}, newest refusals:\n`;
    for (const s of samples) {
      const first = isRecord(s.first) ? s.first : {};
      out += `  ${str(s.at) ?? NONE}  ${num(s.status) ?? NONE} ${str(s.reason) ?? ''}, ${formatCount(num(s.entries) ?? 0)} entries: ${oneLine(raw(s.message))}\n`;
      out += `    first: ${str(first.labels) ?? ''} ${oneLine(raw(first.line), 120)}\n`;
    }
  }
  const total = keys.reduce((sum, [, d]) => sum + (num(d.entries) ?? 0), 0);
  if (total > 0) out += '\nOnce Loki accepts them (its limits raised, the labels fixed): logstack dead-letters --replay [--key NAME]\n';
  return out;
}

/** `logstack dead-letters --replay`: entries requeued per key. */
export function formatReplay(replayed: Readonly<Record<string, number>>): string {
  const names = Object.keys(replayed).sort();
  if (names.length === 0) return 'nothing to replay: no keys configured\n';
  const total = names.reduce((sum, name) => sum + (replayed[name] ?? 0), 0);
  const lines = names.map((name) => `  ${printable(name)}: ${formatCount(replayed[name] ?? 0)} entries requeued\n`).join('');
  return `${total === 0 ? 'no dead letters to replay' : `${formatCount(total)} entries requeued into the WAL; they are delivered like any entry`}\n${lines}`;
}
