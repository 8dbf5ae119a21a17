/**
 * A lean Loki for the soak. test/support/loki-stand-in.ts keeps every entry as objects and
 * strings, which a 45-million-entry run cannot afford; this one decodes Loki's real push (raw
 * snappy, then the protobuf PushRequest, walked with its own reader so that a bug in LogStack's
 * encoder cannot hide behind a shared decoder) and marks each entry's id in its key's ledger.
 * Faults are a mode that holds until changed, plus 400s for the next few pushes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompress } from 'snappy';
import { readEntryId } from './entry-id.js';
import { RECEIVED, REFUSED, type IdLedger } from './id-ledger.js';

export type ReceiverMode =
  | { readonly kind: 'accept' }
  /** 503 `Ingester not ready`, and `/ready` answers 503 too. */
  | { readonly kind: 'unavailable' }
  /** The connection is destroyed once the body is read; `/ready` answers 503. */
  | { readonly kind: 'reset' }
  | { readonly kind: 'rate-limited'; readonly retryAfterSeconds: number }
  /** Stored and answered 204 after a delay uniform in [minMs, maxMs]. */
  | { readonly kind: 'slow'; readonly minMs: number; readonly maxMs: number };

export interface ReceiverCounts {
  /** Answers by kind: `204`, `204 slow`, `503`, `reset`, `429`, `400`. */
  readonly answers: Record<string, number>;
  /** Entries stored (first receipt of an id). */
  entries: number;
  /** Entries received again after a first receipt (a retry after a lost answer; Loki drops them). */
  duplicates: number;
  /** Entries that reached another key's tenant. */
  misrouted: number;
  /** Lines that are not soak entries, or ids never issued. */
  foreign: number;
  /** Pushes that failed to decode: a bug in what LogStack sends. */
  malformed: number;
  readonly malformedSamples: string[];
  /** Entries in pushes answered 400. */
  refused: number;
}

export interface LokiReceiver {
  readonly url: string;
  readonly counts: ReceiverCounts;
  setMode(mode: ReceiverMode): void;
  /** Answer the next `pushes` pushes with Loki's "timestamp too old" 400. */
  refuseNext(pushes: number): void;
  close(): Promise<void>;
}

class Malformed extends Error {}

function varint(buf: Uint8Array, pos: { p: number }, end: number): number {
  let value = 0;
  let scale = 1;
  // Up to 10 bytes: a uint64 such as StreamAdapter.hash; its value is only ever skipped.
  for (let i = 0; i < 10; i++) {
    if (pos.p >= end) throw new Malformed('truncated varint');
    const byte = buf[pos.p++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  throw new Malformed('varint too long');
}

function skipField(buf: Uint8Array, pos: { p: number }, end: number, wireType: number): void {
  if (wireType === 0) varint(buf, pos, end);
  else if (wireType === 1) pos.p += 8;
  else if (wireType === 2) {
    const length = varint(buf, pos, end);
    pos.p += length;
  }
  else if (wireType === 5) pos.p += 4;
  else throw new Malformed(`wire type ${wireType}`);
  if (pos.p > end) throw new Malformed('field past its message');
}

/**
 * Calls `onLine` with each EntryAdapter.line of a PushRequest: streams = 1 → StreamAdapter,
 * entries = 2 → EntryAdapter, line = 2 (Loki's pkg/push/push.proto).
 */
function forEachLine(buf: Uint8Array, onLine: (start: number, end: number) => void): void {
  const walk = (start: number, end: number, depth: number): void => {
    const pos = { p: start };
    while (pos.p < end) {
      const tag = varint(buf, pos, end);
      const field = Math.floor(tag / 8);
      const wireType = tag & 7;
      const wanted = (depth === 0 && field === 1) || (depth === 1 && field === 2) || (depth === 2 && field === 2);
      if (!wanted || wireType !== 2) {
        skipField(buf, pos, end, wireType);
        continue;
      }
      const length = varint(buf, pos, end);
      const fieldEnd = pos.p + length;
      if (fieldEnd > end) throw new Malformed('length past its message');
      if (depth === 2) onLine(pos.p, fieldEnd);
      else walk(pos.p, fieldEnd, depth + 1);
      pos.p = fieldEnd;
    }
  };
  walk(0, buf.length, 0);
}

function answer(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body === '' ? '' : `${body}\n`);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `tenants[k]` is key k's X-Scope-OrgID; `ledgers[k]` its ids. */
export async function startLokiReceiver(opts: { tenants: readonly string[]; ledgers: readonly IdLedger[] }): Promise<LokiReceiver> {
  const counts: ReceiverCounts = { answers: {}, entries: 0, duplicates: 0, misrouted: 0, foreign: 0, malformed: 0, malformedSamples: [], refused: 0 };
  const keyOfTenant = new Map(opts.tenants.map((t, k) => [t, k]));
  const timers = new Set<NodeJS.Timeout>();
  const parsed = { key: 0, id: 0 };
  let mode: ReceiverMode = { kind: 'accept' };
  let refusals = 0;

  const count = (kind: string): void => {
    counts.answers[kind] = (counts.answers[kind] ?? 0) + 1;
  };

  /** Marks every entry of the push with `flag`; throws Malformed. */
  const markEntries = async (body: Buffer, tenantKey: number | undefined, flag: number): Promise<void> => {
    let raw: Buffer;
    try {
      raw = (await uncompress(body)) as Buffer;
    } catch (err) {
      throw new Malformed(`snappy: ${(err as Error).message}`);
    }
    forEachLine(raw, (start, end) => {
      const ledger = readEntryId(raw, start, end, parsed) ? opts.ledgers[parsed.key] : undefined;
      const already = ledger?.mark(parsed.id, flag) ?? null;
      if (already === null) {
        counts.foreign++;
        return;
      }
      if (parsed.key !== tenantKey) counts.misrouted++;
      if (flag === REFUSED) counts.refused++;
      else if (already) counts.duplicates++;
      else counts.entries++;
    });
  };

  const push = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const tenant = req.headers['x-scope-orgid'];
    const tenantKey = typeof tenant === 'string' ? keyOfTenant.get(tenant) : undefined;
    const current = mode;
    if (refusals > 0) {
      refusals--;
      await markEntries(body, tenantKey, REFUSED);
      count('400');
      return answer(res, 400, "entry for stream '{service=\"soak\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2025-09-17T12:00:00Z");
    }
    if (current.kind === 'unavailable') {
      count('503');
      return answer(res, 503, 'Ingester not ready: waiting for 15s after being ready');
    }
    if (current.kind === 'reset') {
      count('reset');
      req.socket.destroy();
      return;
    }
    if (current.kind === 'rate-limited') {
      count('429');
      return answer(res, 429, `Ingestion rate limit exceeded for user ${String(tenant)} (limit: 4194304 bytes/sec)`, {
        'retry-after': String(current.retryAfterSeconds),
      });
    }
    if (current.kind === 'slow') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, current.minMs + Math.random() * (current.maxMs - current.minMs));
        timers.add(timer);
      });
    }
    if ((req.headers['content-type'] ?? '').startsWith('application/json')) throw new Malformed('the soak expects protobuf pushes');
    // Like Loki, the whole push is decoded before any of it counts as stored.
    await markEntries(body, tenantKey, RECEIVED);
    count(current.kind === 'slow' ? '204 slow' : '204');
    res.writeHead(204).end();
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/ready') {
      const down = mode.kind === 'unavailable' || mode.kind === 'reset';
      return answer(res, down ? 503 : 200, down ? 'Ingester not ready' : 'ready');
    }
    if (req.method !== 'POST' || path !== '/loki/api/v1/push') return answer(res, 404, '404 page not found');
    push(req, res).catch((err: unknown) => {
      if (!(err instanceof Malformed)) {
        if (!req.destroyed) throw err;
        // The client went away mid-body (its timeout, or its shutdown): nothing was stored.
        count('aborted');
        return;
      }
      counts.malformed++;
      if (counts.malformedSamples.length < 5) counts.malformedSamples.push(err.message);
      count('400');
      answer(res, 400, `proto: ${err.message}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    counts,
    setMode(next) {
      mode = next;
    },
    refuseNext(pushes) {
      refusals += pushes;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
