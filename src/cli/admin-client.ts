/**
 * A client of a running service's admin API (/v1/admin/*): one request per call, the answer
 * read within a size bound and checked to be the API's JSON. Whatever goes wrong comes back as
 * an AdminFailure with its kind (src/cli/admin-failure.ts); the admin token goes in the
 * Authorization header and nowhere else, not in a message, not in an error.
 */
import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { Agent, errors, type Dispatcher } from 'undici';
import { AdminFailure } from './admin-failure.js';
import type { TargetTrust } from './admin-target.js';

/** How long a request without a wait of its own may take for its answer (ms). */
export const ANSWER_TIMEOUT_MS = 10_000;
/**
 * Largest answer read (bytes). Dead letters carry sample lines of up to 256 kB each, five per
 * key; nothing the admin API sends comes near this, a wrong URL serving a file may.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A key's progress in a flush, as the service reports it. */
export interface FlushProgress {
  readonly targetSeq?: number;
  readonly ackedSeq?: number;
  readonly pendingEntries?: number;
  readonly delivered?: boolean;
  readonly health?: string;
}

export interface FlushAnswer {
  readonly complete: boolean;
  readonly tokens: Readonly<Record<string, FlushProgress>>;
}

export type Json = Readonly<Record<string, unknown>>;

export interface AdminClientOptions {
  /** The service's base URL, as resolve-admin-target gives it. */
  readonly url: string;
  readonly token: string;
  /** How an https:// service is trusted; the system's CAs by default. */
  readonly trust?: TargetTrust;
  readonly answerTimeoutMs?: number;
  readonly maxAnswerBytes?: number;
}

export interface AdminClient {
  /**
   * Seals the active segments and delivers now. With `waitSeconds`, until delivered (resolves)
   * or out of time (rejects with `not_delivered` and each key's progress).
   */
  flush(waitSeconds?: number): Promise<FlushAnswer>;
  status(): Promise<Json>;
  deadLetters(): Promise<Json>;
  /** Requeues dead letters of one key (by name) or all; entries requeued per key. */
  replayDeadLetters(key?: string): Promise<Readonly<Record<string, number>>>;
  close(): Promise<void>;
}

/**
 * TLS options for `trust`. A pinned certificate — the one the service's own configuration names,
 * reached as 127.0.0.1 — is the only one accepted, whatever names it carries: it is made a trust
 * anchor of its own (`allowPartialTrustChain`, it is usually not self-signed) and the identity
 * check compares the whole certificate instead of a host name.
 */
export function tlsOptions(trust: TargetTrust): ConnectionOptions {
  if (trust.kind === 'system') return {};
  if (trust.kind === 'ca') return { ca: trust.pem };
  let pinned: string;
  try {
    pinned = new X509Certificate(trust.pem).fingerprint256;
  } catch {
    throw new AdminFailure('usage', "the configuration's server.tls.cert_file holds no PEM certificate: give the service's CA with --ca");
  }
  return {
    ca: trust.pem,
    allowPartialTrustChain: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.fingerprint256 === pinned ? undefined : new Error('the service presented another certificate than the configuration\'s server.tls.cert_file'),
  };
}

/** Errors of Node and undici that mean the service was not reached, with what to say. */
const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'the host name could not be resolved now',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
  UND_ERR_SOCKET: 'the connection was closed before an answer',
};
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errorCode(err: unknown): string | undefined {
  if (err instanceof AggregateError) return errorCode(err.errors[0]);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return (err as { cause?: unknown } | null)?.cause === undefined ? undefined : errorCode((err as { cause: unknown }).cause);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What a failure to get an answer means to the admin: `where` is the URL asked, `waitedMs` the
 * bound that ran out when `timedOut`.
 */
function transportFailure(err: unknown, where: string, timedOut: boolean, waitedMs: number): AdminFailure {
  const code = errorCode(err);
  if (timedOut || (code !== undefined && TIMEOUTS.has(code))) {
    return new AdminFailure('timeout', `no answer from ${where} within ${waitedMs / 1000} s`, { cause: err });
  }
  if (err instanceof errors.HTTPParserError) {
    return new AdminFailure('bad_answer', `${where} answered something that is not HTTP: not LogStack's admin API`, { cause: err });
  }
  if (code !== undefined && code in UNREACHABLE) {
    return new AdminFailure('unreachable', `cannot connect to ${where}: ${UNREACHABLE[code]} (is LogStack running there? --url or LOGSTACK_URL names it)`, { cause: err });
  }
  const reason = (err as Error | null)?.message || code || String(err);
  return new AdminFailure('unreachable', `cannot talk to ${where}: ${reason}`, { cause: err });
}

interface AdminAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The answer's JSON object, or the failure the answer means. */
function interpretAnswer(answer: AdminAnswer, where: string, tokenSource: string): AdminFailure | Json {
  const { status } = answer;
  if (status === 401) {
    return new AdminFailure('unauthorized', `${where} answered 401: the admin token (from ${tokenSource}) is not accepted, or the service has no security.admin_token`);
  }
  if (status === 403) return new AdminFailure('forbidden', `${where} answered 403: the token (from ${tokenSource}) is an API key; the admin API takes the admin token`);
  let json: unknown;
  try {
    json = answer.contentType.includes('json') ? JSON.parse(answer.body) : undefined;
  } catch {
    json = undefined;
  }
  const error = isRecord(json) && typeof json.error === 'string' ? json : undefined;
  if (status === 504 && error?.error === 'flush_timeout') {
    return new AdminFailure('not_delivered', String(error.message), { progress: isRecord(error.details) ? error.details : {} });
  }
  if (status === 504) return new AdminFailure('timeout', `${where} answered 504: a gateway in front of LogStack gave up waiting`);
  if (error !== undefined && status >= 400) {
    // One line, whatever the service put in its message.
    return new AdminFailure('service_error', `${where} answered ${status} ${error.error}: ${String(error.message ?? '').replace(/\s+/g, ' ')}`);
  }
  if (status >= 200 && status < 300 && isRecord(json)) return json;
  const type = answer.contentType === '' ? 'no content type' : answer.contentType.split(';')[0]!;
  return new AdminFailure('bad_answer', `${where} answered ${status} (${type}), not LogStack's admin API: does the URL name a LogStack service?`);
}

type Body = Dispatcher.ResponseData['body'];

/** Drops the rest of an answer unread; undici reports that as an error, expected here. */
function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

async function readBounded(body: Body, maxBytes: number, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      discard(body);
      throw new AdminFailure('bad_answer', `${where} answered more than ${maxBytes} bytes: not LogStack's admin API`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function requireFields(json: Json, fields: readonly string[], where: string): Json {
  for (const field of fields) {
    if (!(field in json)) throw new AdminFailure('bad_answer', `${where} answered JSON without "${field}": not LogStack's admin API, or another version of it`);
  }
  return json;
}

class UndiciAdminClient implements AdminClient {
  readonly #base: URL;
  readonly #token: string;
  readonly #tokenSource: string;
  readonly #answerTimeoutMs: number;
  readonly #maxAnswerBytes: number;
  readonly #agent: Agent;

  constructor(options: AdminClientOptions & { tokenSource: string }) {
    this.#base = new URL(options.url);
    this.#token = options.token;
    this.#tokenSource = options.tokenSource;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.#maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
    this.#agent = new Agent({ connections: 1, connect: { timeout: this.#answerTimeoutMs, ...tlsOptions(options.trust ?? { kind: 'system' }) } });
  }

  async #call(method: 'GET' | 'POST', path: string, query: Record<string, string>, timeoutMs: number): Promise<Json> {
    const url = new URL(`${this.#base.pathname.replace(/\/$/, '')}${path}`, this.#base);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const where = `${url.origin}${url.pathname}`;
    const signal = AbortSignal.timeout(timeoutMs);
    let answer: AdminAnswer;
    try {
      const response = await this.#agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers: { authorization: `Bearer ${this.#token}`, accept: 'application/json' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      const length = Number(response.headers['content-length']);
      if (length > this.#maxAnswerBytes) {
        discard(response.body);
        throw new AdminFailure('bad_answer', `${where} answered ${length} bytes, more than ${this.#maxAnswerBytes}: not LogStack's admin API`);
      }
      const contentType = response.headers['content-type'];
      answer = {
        status: response.statusCode,
        contentType: (Array.isArray(contentType) ? contentType[0] : contentType) ?? '',
        body: await readBounded(response.body, this.#maxAnswerBytes, where),
      };
    } catch (err) {
      if (err instanceof AdminFailure) throw err;
      throw transportFailure(err, where, signal.aborted, timeoutMs);
    }
    const result = interpretAnswer(answer, where, this.#tokenSource);
    if (result instanceof AdminFailure) throw result;
    return result;
  }

  async flush(waitSeconds?: number): Promise<FlushAnswer> {
    const wait = waitSeconds !== undefined;
    // The service answers 504 once `waitSeconds` pass; the request waits longer so that the
    // service's answer, with each key's progress, arrives before our own timeout.
    const timeoutMs = wait ? waitSeconds * 1000 + this.#answerTimeoutMs : this.#answerTimeoutMs;
    const query: Record<string, string> = wait ? { wait: 'true', timeout_seconds: String(waitSeconds) } : {};
    let json: Json;
    try {
      json = requireFields(await this.#call('POST', '/v1/admin/flush', query, timeoutMs), ['complete', 'tokens'], 'the flush answer');
    } catch (err) {
      if (err instanceof AdminFailure && err.kind === 'not_delivered') {
        throw new AdminFailure('not_delivered', `not everything was delivered within ${waitSeconds} s; each key's progress:`, { progress: err.progress ?? {} });
      }
      throw err;
    }
    return { complete: json.complete === true, tokens: isRecord(json.tokens) ? (json.tokens as Record<string, FlushProgress>) : {} };
  }

  async status(): Promise<Json> {
    return requireFields(await this.#call('GET', '/v1/admin/status', {}, this.#answerTimeoutMs), ['version', 'tokens'], 'the status answer');
  }

  async deadLetters(): Promise<Json> {
    return requireFields(await this.#call('GET', '/v1/admin/dead-letters', {}, this.#answerTimeoutMs), ['tokens'], 'the dead-letters answer');
  }

  async replayDeadLetters(key?: string): Promise<Readonly<Record<string, number>>> {
    const json = requireFields(
      await this.#call('POST', '/v1/admin/dead-letters:replay', key === undefined ? {} : { token: key }, this.#answerTimeoutMs),
      ['replayed'],
      'the replay answer',
    );
    return isRecord(json.replayed) ? (json.replayed as Record<string, number>) : {};
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

export function createAdminClient(options: AdminClientOptions & { tokenSource: string }): AdminClient {
  return new UndiciAdminClient(options);
}
