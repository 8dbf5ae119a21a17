/**
 * A real HTTP server on 127.0.0.1 standing in for Grafana Loki in integration tests.
 *
 * It decodes pushes independently of LogStack's encoder — protobuf with protobufjs and Loki's
 * own message definitions (loki-push.proto) after raw snappy, JSON after gzip/deflate — and keeps
 * what it received per tenant (X-Scope-OrgID). Like Loki it answers 204 to a stored push, drops an
 * entry identical to one already in its stream (same timestamp and line) as a duplicate, and
 * answers errors as `text/plain` one-liners. Faults are injected on command: scripted answers for
 * the next pushes, a standing answer, per tenant or for all, a body size limit (413), and the
 * state of `/ready`.
 */
import { once, EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, inflateRaw as inflateRawCallback } from 'node:zlib';
import protobuf from 'protobufjs';
import { compressSync, uncompressSync } from 'snappy';

const gunzip = promisify(gunzipCallback);
const inflateRaw = promisify(inflateRawCallback);

const root = protobuf.loadSync(fileURLToPath(new URL('./loki-push.proto', import.meta.url)));
const PushRequest = root.lookupType('logproto.PushRequest');

export interface ReceivedEntry {
  /** X-Scope-OrgID of the push; null when it had none. */
  readonly tenant: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, as a decimal string. */
  readonly tsNs: string;
  readonly line: string;
  readonly structuredMetadata: Readonly<Record<string, string>>;
}

export interface PushRecord {
  readonly tenant: string | null;
  readonly encoding: 'protobuf' | 'json';
  readonly contentEncoding: string | null;
  /** Bytes of the body as sent. */
  readonly bodyBytes: number;
  /** The status answered; null for a hang or a reset. */
  readonly status: number | null;
  /** Entries stored from this push (after dedupe). */
  readonly stored: number;
  /** Entries of this push dropped as duplicates. */
  readonly duplicates: number;
  /** The request path, e.g. to check a gateway prefix. */
  readonly path: string;
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** How the push was answered. */
  readonly answer: StandInAnswer['kind'];
  /** When it was answered, hung or reset (ms since the epoch). */
  readonly atMs: number;
  /** The entries of a push answered without storing them (a fault, a 413), decoded; empty otherwise. */
  readonly notStored: readonly ReceivedEntry[];
}

/** How the stand-in answers one push. */
export type StandInAnswer =
  /** Decode, store and answer 204 (after `delayMs`): what Loki does. */
  | { readonly kind: 'accept'; readonly delayMs?: number }
  /** Answer this without storing anything. */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string; readonly headers?: Readonly<Record<string, string>>; readonly delayMs?: number }
  /** Read the request, never answer (until `close()`). */
  | { readonly kind: 'hang' }
  /** Read the request, then destroy the connection. */
  | { readonly kind: 'reset' };

/** `/ready`: 200, 503 `Ingester not ready`, 404 (a gateway that does not route it), or no answer. */
export type ReadyState = 'ready' | 'not-ready' | 'missing' | 'hang';

/** Loki's answers, with Loki's wording, for fault injection. */
export const lokiAnswers = {
  accept: (delayMs?: number): StandInAnswer => (delayMs === undefined ? { kind: 'accept' } : { kind: 'accept', delayMs }),
  hang: (): StandInAnswer => ({ kind: 'hang' }),
  reset: (): StandInAnswer => ({ kind: 'reset' }),
  status: (status: number, body = '', headers: Readonly<Record<string, string>> = {}): StandInAnswer => ({ kind: 'status', status, body, headers }),
  serverError: (): StandInAnswer => lokiAnswers.status(500, 'rpc error: code = Unavailable desc = at least 1 live replicas required, could only find 0'),
  unavailable: (): StandInAnswer => lokiAnswers.status(503, 'Ingester not ready: waiting for 15s after being ready'),
  rateLimited: (tenant: string, retryAfterSeconds?: number): StandInAnswer =>
    lokiAnswers.status(
      429,
      `Ingestion rate limit exceeded for user ${tenant} (limit: 4194304 bytes/sec) while attempting to ingest '1000' lines totaling '1048576' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased`,
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
    ),
  timestampTooOld: (stream: string): StandInAnswer =>
    lokiAnswers.status(
      400,
      `entry for stream '${stream}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2025-09-17T12:00:00Z`,
    ),
  unexpected2xx: (status = 260): StandInAnswer => lokiAnswers.status(status, ''),
  unauthorized: (): StandInAnswer => lokiAnswers.status(401, 'no org id'),
} as const;

export interface LokiStandInOptions {
  /** Drop an entry equal (stream, timestamp, line) to one stored, as Loki does. Default true. */
  readonly dedupe?: boolean;
  /** Answer 401 `no org id` to a push without X-Scope-OrgID, as multi-tenant Loki does. */
  readonly requireTenant?: boolean;
}

export interface LokiStandIn {
  start(): Promise<string>;
  /** `http://127.0.0.1:<port>`; throws before `start()`. */
  readonly url: string;
  /** Entries stored: all, or one tenant's (`null`: pushes without X-Scope-OrgID). */
  received(tenant?: string | null): ReceivedEntry[];
  readonly pushes: readonly PushRecord[];
  readonly duplicatesReceived: number;
  readonly readyChecks: number;
  /** Answers for the next pushes, in order (of `tenant` only, when given). */
  answerNext(answers: StandInAnswer | readonly StandInAnswer[], options?: { tenant?: string }): void;
  /** An answer for every push once the scripted ones are used up; null to go back to accepting. */
  setStandingAnswer(answer: StandInAnswer | null, options?: { tenant?: string }): void;
  /** Answer 413 to bodies (as sent) over this many bytes; null for no limit. */
  setMaxBodyBytes(limit: number | null): void;
  setReady(state: ReadyState): void;
  /** Resolves once `count` entries are stored (or `predicate` holds); rejects after `timeoutMs`. */
  waitFor(condition: number | ((standIn: LokiStandIn) => boolean), timeoutMs?: number): Promise<void>;
  /** Forgets everything received and every fault. */
  reset(): void;
  /** Ends hung requests and stops the server. */
  close(): Promise<void>;
}

interface StandInStream {
  readonly labels: Record<string, string>;
  readonly entries: ReadonlyArray<{ tsNs: string; line: string; structuredMetadata: Record<string, string> }>;
}

class BadPush extends Error {}

const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** Prometheus label-set text, parsed the way Loki's `syntax.ParseLabels` accepts it. */
function parseLabelText(text: string): Record<string, string> {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) throw new BadPush(`couldn't parse labels: ${text}`);
  const body = trimmed.slice(1, -1);
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < body.length) {
    const m = LABEL.exec(body);
    if (m === null) throw new BadPush(`couldn't parse labels: ${text}`);
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  if (Object.keys(labels).length === 0) throw new BadPush('error at least one label pair is required per stream');
  return labels;
}

function labelsKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

interface DecodedProto {
  streams?: Array<{
    labels?: string;
    entries?: Array<{ timestamp?: { seconds?: string; nanos?: number }; line?: string; structuredMetadata?: Array<{ name?: string; value?: string }> }>;
  }>;
}

function decodeProtobuf(raw: Buffer): StandInStream[] {
  let message: DecodedProto;
  try {
    message = PushRequest.toObject(PushRequest.decode(raw), { longs: String }) as DecodedProto;
  } catch (err) {
    throw new BadPush(`proto: ${(err as Error).message}`);
  }
  return (message.streams ?? []).map((s) => ({
    labels: parseLabelText(s.labels ?? ''),
    entries: (s.entries ?? []).map((e) => ({
      tsNs: (BigInt(e.timestamp?.seconds ?? '0') * 1_000_000_000n + BigInt(e.timestamp?.nanos ?? 0)).toString(),
      line: e.line ?? '',
      structuredMetadata: Object.fromEntries((e.structuredMetadata ?? []).map((p) => [p.name ?? '', p.value ?? ''])),
    })),
  }));
}

function decodeJson(raw: Buffer): StandInStream[] {
  let message: unknown;
  try {
    message = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new BadPush(`loghttp.PushRequest.Streams: ${(err as Error).message}`);
  }
  const streams = (message as { streams?: unknown }).streams;
  if (!Array.isArray(streams)) throw new BadPush('loghttp.PushRequest.Streams: expected an array');
  return streams.map((s: { stream?: unknown; values?: unknown }) => {
    if (typeof s.stream !== 'object' || s.stream === null || Object.keys(s.stream).length === 0) {
      throw new BadPush('error at least one label pair is required per stream');
    }
    if (Object.values(s.stream).some((v) => typeof v !== 'string')) throw new BadPush('loghttp.Stream.stream: label values must be strings');
    if (!Array.isArray(s.values)) throw new BadPush('loghttp.Stream.values: expected an array');
    return {
      labels: { ...(s.stream as Record<string, string>) },
      entries: s.values.map((v: unknown) => {
        if (!Array.isArray(v) || v.length < 2 || v.length > 3) throw new BadPush('loghttp.Entry: expected [ts, line] or [ts, line, metadata]');
        const [ts, line, metadata] = v as [unknown, unknown, unknown];
        if (typeof ts !== 'string' || !/^\d+$/.test(ts)) throw new BadPush(`loghttp.Entry.ts: expected a string of nanoseconds, got ${JSON.stringify(ts)}`);
        if (typeof line !== 'string') throw new BadPush('loghttp.Entry.line: expected a string');
        if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
          throw new BadPush('loghttp.Entry.structuredMetadata: expected an object');
        }
        return { tsNs: BigInt(ts).toString(), line, structuredMetadata: { ...(metadata as Record<string, string> | undefined) } };
      }),
    };
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function answerText(res: ServerResponse, status: number, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
  // Go's http.Error ends the message with a newline; clients see it as Loki sends it.
  res.end(body === '' ? '' : `${body}\n`);
}

class HttpLokiStandIn implements LokiStandIn {
  readonly #dedupe: boolean;
  readonly #requireTenant: boolean;
  readonly #server: Server;
  readonly #events = new EventEmitter();
  readonly #timers = new Set<NodeJS.Timeout>();
  #url: string | null = null;
  #received: ReceivedEntry[] = [];
  #seen = new Set<string>();
  #pushes: PushRecord[] = [];
  #duplicates = 0;
  #readyChecks = 0;
  #queue: StandInAnswer[] = [];
  #tenantQueues = new Map<string, StandInAnswer[]>();
  #standing: StandInAnswer | null = null;
  #tenantStanding = new Map<string, StandInAnswer>();
  #maxBodyBytes: number | null = null;
  #ready: ReadyState = 'ready';

  constructor(options: LokiStandInOptions) {
    this.#dedupe = options.dedupe ?? true;
    this.#requireTenant = options.requireTenant ?? false;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) answerText(res, 500, `stand-in: ${(err as Error).message}`);
      });
    });
  }

  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const { port } = this.#server.address() as AddressInfo;
    this.#url = `http://127.0.0.1:${port}`;
    return this.#url;
  }

  get url(): string {
    if (this.#url === null) throw new Error('loki stand-in: start() first');
    return this.#url;
  }

  received(tenant?: string | null): ReceivedEntry[] {
    return tenant === undefined ? [...this.#received] : this.#received.filter((e) => e.tenant === tenant);
  }

  get pushes(): readonly PushRecord[] {
    return this.#pushes;
  }

  get duplicatesReceived(): number {
    return this.#duplicates;
  }

  get readyChecks(): number {
    return this.#readyChecks;
  }

  answerNext(answers: StandInAnswer | readonly StandInAnswer[], options: { tenant?: string } = {}): void {
    const list = Array.isArray(answers) ? answers : [answers as StandInAnswer];
    if (options.tenant === undefined) {
      this.#queue.push(...list);
      return;
    }
    const queue = this.#tenantQueues.get(options.tenant) ?? [];
    queue.push(...list);
    this.#tenantQueues.set(options.tenant, queue);
  }

  setStandingAnswer(answer: StandInAnswer | null, options: { tenant?: string } = {}): void {
    if (options.tenant === undefined) this.#standing = answer;
    else if (answer === null) this.#tenantStanding.delete(options.tenant);
    else this.#tenantStanding.set(options.tenant, answer);
  }

  setMaxBodyBytes(limit: number | null): void {
    this.#maxBodyBytes = limit;
  }

  setReady(state: ReadyState): void {
    this.#ready = state;
  }

  waitFor(condition: number | ((standIn: LokiStandIn) => boolean), timeoutMs = 5000): Promise<void> {
    const holds = typeof condition === 'number' ? () => this.#received.length >= condition : () => condition(this);
    if (holds()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onPush = (): void => {
        if (!holds()) return;
        clearTimeout(timer);
        this.#events.off('push', onPush);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#events.off('push', onPush);
        const want = typeof condition === 'number' ? `${condition} entries` : 'the condition';
        reject(new Error(`loki stand-in: waited ${timeoutMs} ms for ${want}; have ${this.#received.length} entries from ${this.#pushes.length} pushes`));
      }, timeoutMs);
      this.#events.on('push', onPush);
    });
  }

  reset(): void {
    this.#received = [];
    this.#seen = new Set();
    this.#pushes = [];
    this.#duplicates = 0;
    this.#readyChecks = 0;
    this.#queue = [];
    this.#tenantQueues = new Map();
    this.#standing = null;
    this.#tenantStanding = new Map();
    this.#maxBodyBytes = null;
    this.#ready = 'ready';
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (!this.#server.listening) return;
    const closed = once(this.#server, 'close');
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && path.endsWith('/ready')) return this.#answerReady(res);
    if (req.method === 'GET' && (path === '/' || path.endsWith('/'))) return answerText(res, 200, 'Loki');
    if (req.method === 'POST' && path.endsWith('/loki/api/v1/push')) return this.#answerPush(req, res, path);
    answerText(res, 404, '404 page not found');
  }

  #answerReady(res: ServerResponse): void {
    this.#readyChecks++;
    if (this.#ready === 'ready') answerText(res, 200, 'ready');
    else if (this.#ready === 'not-ready') answerText(res, 503, 'Ingester not ready: waiting for 15s after being ready');
    else if (this.#ready === 'missing') answerText(res, 404, '404 page not found');
  }

  #nextAnswer(tenant: string | null): StandInAnswer {
    const tenantQueue = tenant === null ? undefined : this.#tenantQueues.get(tenant);
    return (
      tenantQueue?.shift() ??
      this.#queue.shift() ??
      (tenant === null ? undefined : this.#tenantStanding.get(tenant)) ??
      this.#standing ?? { kind: 'accept' }
    );
  }

  async #answerPush(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readBody(req);
    const tenantHeader = req.headers['x-scope-orgid'];
    const tenant = typeof tenantHeader === 'string' ? tenantHeader : null;
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const contentEncoding = req.headers['content-encoding'] ?? null;
    const record = {
      tenant,
      encoding: contentType === 'application/json' ? ('json' as const) : ('protobuf' as const),
      contentEncoding,
      bodyBytes: body.length,
      path,
      headers: req.headers,
    };
    const answer = this.#nextAnswer(tenant);
    const log = (status: number | null, stored = 0, duplicates = 0, notStored: readonly ReceivedEntry[] = []): void => {
      this.#pushes.push({ ...record, status, stored, duplicates, answer: answer.kind, atMs: Date.now(), notStored });
      this.#events.emit('push');
    };
    const logNotStored = (status: number | null): Promise<void> =>
      this.#entriesOf(tenant, body, contentType, contentEncoding).then((entries) => log(status, 0, 0, entries));

    if (answer.kind === 'hang') return logNotStored(null);
    if (answer.kind === 'reset') {
      await logNotStored(null);
      req.socket.destroy();
      return;
    }
    if (answer.delayMs !== undefined) await this.#sleep(answer.delayMs);
    if (answer.kind === 'status') {
      answerText(res, answer.status, answer.body ?? '', answer.headers);
      return logNotStored(answer.status);
    }
    if (this.#requireTenant && tenant === null) {
      answerText(res, 401, 'no org id');
      return logNotStored(401);
    }
    if (this.#maxBodyBytes !== null && body.length > this.#maxBodyBytes) {
      answerText(res, 413, `request body too large: message size too large than max (${body.length} vs ${this.#maxBodyBytes})`);
      return logNotStored(413);
    }
    let streams: StandInStream[];
    try {
      // Loki validates the whole push before storing any of it.
      streams = await this.#decode(body, contentType, contentEncoding);
    } catch (err) {
      if (!(err instanceof BadPush)) throw err;
      answerText(res, 400, err.message);
      log(400);
      return;
    }
    const { stored, duplicates } = this.#store(tenant, streams);
    res.writeHead(204).end();
    log(204, stored, duplicates);
  }

  /** What a push carried, for tests that check where refused entries went; [] when it does not decode. */
  async #entriesOf(tenant: string | null, body: Buffer, contentType: string, contentEncoding: string | null): Promise<ReceivedEntry[]> {
    try {
      const streams = await this.#decode(body, contentType, contentEncoding);
      return streams.flatMap((s) => s.entries.map((e) => ({ tenant, labels: s.labels, ...e })));
    } catch (err) {
      if (err instanceof BadPush) return [];
      throw err;
    }
  }

  async #decode(body: Buffer, contentType: string, contentEncoding: string | null): Promise<StandInStream[]> {
    let raw: Buffer;
    try {
      if (contentEncoding === 'gzip') raw = await gunzip(body);
      else if (contentEncoding === 'deflate') raw = await inflateRaw(body);
      else if (contentEncoding === null || contentEncoding === '' || contentEncoding === 'snappy') raw = body;
      else throw new BadPush(`Content-Encoding "${contentEncoding}" not supported`);
      if (contentType !== 'application/json') raw = uncompressSync(raw, { asBuffer: true }) as Buffer;
    } catch (err) {
      if (err instanceof BadPush) throw err;
      throw new BadPush(`decompress: ${(err as Error).message}`);
    }
    return contentType === 'application/json' ? decodeJson(raw) : decodeProtobuf(raw);
  }

  #store(tenant: string | null, streams: readonly StandInStream[]): { stored: number; duplicates: number } {
    let stored = 0;
    let duplicates = 0;
    for (const stream of streams) {
      const streamKey = `${tenant ?? ''}\u0000${labelsKey(stream.labels)}`;
      for (const entry of stream.entries) {
        const key = `${streamKey}\u0000${entry.tsNs}\u0000${entry.line}`;
        if (this.#dedupe && this.#seen.has(key)) {
          duplicates++;
          continue;
        }
        this.#seen.add(key);
        this.#received.push({ tenant, labels: stream.labels, ...entry });
        stored++;
      }
    }
    this.#duplicates += duplicates;
    return { stored, duplicates };
  }
}

export function createLokiStandIn(options: LokiStandInOptions = {}): LokiStandIn {
  return new HttpLokiStandIn(options);
}

export interface ReferenceStream {
  readonly labels: string;
  readonly entries: ReadonlyArray<{ readonly tsNs: string; readonly line: string; readonly structuredMetadata?: Readonly<Record<string, string>> }>;
}

/**
 * A protobuf push body built with protobufjs from Loki's definitions, raw-snappy compressed:
 * what any Loki client sends, made without LogStack's encoder.
 */
export function referenceProtobufPush(streams: readonly ReferenceStream[]): Buffer {
  const message = PushRequest.fromObject({
    streams: streams.map((s) => ({
      labels: s.labels,
      entries: s.entries.map((e) => {
        const ns = BigInt(e.tsNs);
        return {
          timestamp: { seconds: (ns / 1_000_000_000n).toString(), nanos: Number(ns % 1_000_000_000n) },
          line: e.line,
          structuredMetadata: Object.entries(e.structuredMetadata ?? {}).map(([name, value]) => ({ name, value })),
        };
      }),
    })),
  });
  return compressSync(Buffer.from(PushRequest.encode(message).finish()));
}
