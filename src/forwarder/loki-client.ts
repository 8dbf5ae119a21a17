/**
 * The transport to Loki: one keep-alive connection pool, one POST per push. Dumb on purpose —
 * it sends, classifies the answer with the pure retry policy, and reports; retrying, splitting
 * and dead-lettering are the forwarder's. Network and HTTP failures are outcomes, never throws.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import type { PushAttempt } from './push-outcome.js';
import { lokiEndpoints } from './loki-url.js';
import { classifyAnswer, classifyTransportFailure } from './retry-policy.js';

/** Bytes of Loki's answer kept: its error messages are one line; a gateway's HTML page is not. */
export const MAX_ANSWER_BYTES = 4096;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export type LokiConfig = Config['loki'];

export interface LokiClientOptions {
  /** LogStack's version, sent as `User-Agent: logstack/<version>`. */
  readonly version: string;
  /** Wall clock for `Retry-After` dates (ms since the epoch). */
  readonly now?: () => number;
}

export interface LokiAnswer {
  readonly status: number;
  /** The body, at most `MAX_ANSWER_BYTES`, trimmed. */
  readonly body: string;
}

export interface LokiClient {
  /** `{base_url}/loki/api/v1/push` without credentials: safe to log. */
  readonly pushUrl: string;
  /**
   * POSTs an encoded push (`headers`: its Content-Type / Content-Encoding). `tenant` is the
   * token's Loki tenant; without one `loki.tenant` is used, and without that no X-Scope-OrgID.
   */
  push(body: Buffer, headers: Readonly<Record<string, string>>, tenant?: string): Promise<PushAttempt>;
  /** GET `{base_url}{path}`. Rejects, with a message fit for /readyz, when no answer comes. */
  get(path: string, timeoutMs: number): Promise<LokiAnswer>;
  /** Waits for pushes in flight (each ends within `loki.timeout_seconds`), then closes. Once. */
  close(): Promise<void>;
}

function readTlsFile(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw logstackError('CONFIG_UNREADABLE', [file, (err as Error).message], { cause: err });
  }
}

function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  // Node reports a refused connection to a dual-stack host as an AggregateError without a message.
  const message = err.message || (err instanceof AggregateError ? describeFailure(err.errors[0]) : '');
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message || err.name;
}

function isTimeout(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early destroys the connection; Loki's short answers are read to the end so the
  // connection goes back to the pool.
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_ANSWER_BYTES) break;
  }
  let text = Buffer.concat(chunks, size).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
  if (size > MAX_ANSWER_BYTES) text = text.replace(/\uFFFD$/, '');
  return text.trim();
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

class UndiciLokiClient implements LokiClient {
  readonly pushUrl: string;
  readonly #pool: Pool;
  readonly #pathPrefix: string;
  readonly #pushPath: string;
  readonly #baseHeaders: Readonly<Record<string, string>>;
  readonly #defaultTenant: string | undefined;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #closing: Promise<void> | undefined;

  constructor(config: LokiConfig, options: LokiClientOptions) {
    const url = new URL(config.base_url);
    const endpoints = lokiEndpoints(config.base_url);
    this.#pathPrefix = endpoints.pathPrefix;
    this.#pushPath = endpoints.pushPath;
    this.pushUrl = endpoints.pushUrl;
    this.#timeoutMs = config.timeout_seconds * 1000;
    this.#defaultTenant = config.tenant;
    this.#now = options.now ?? Date.now;

    const headers: Record<string, string> = { 'user-agent': `logstack/${options.version}` };
    for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value;
    const username = config.basic_auth?.username ?? decodeURIComponent(url.username);
    const password = config.basic_auth?.password ?? decodeURIComponent(url.password);
    if (config.bearer_token !== undefined) headers.authorization = `Bearer ${config.bearer_token}`;
    else if (username !== '' || password !== '') headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    this.#baseHeaders = headers;

    const tls =
      url.protocol === 'https:'
        ? {
            ca: readTlsFile(config.tls.ca_file),
            cert: readTlsFile(config.tls.cert_file),
            key: readTlsFile(config.tls.key_file),
            rejectUnauthorized: !config.tls.insecure_skip_verify,
          }
        : {};
    this.#pool = new Pool(endpoints.origin, {
      connections: config.concurrency,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connect: { timeout: this.#timeoutMs, ...tls },
    });
  }

  async push(body: Buffer, headers: Readonly<Record<string, string>>, tenant?: string): Promise<PushAttempt> {
    this.#assertOpen();
    const requestHeaders: Record<string, string> = { ...this.#baseHeaders, ...headers };
    const orgId = tenant ?? this.#defaultTenant;
    if (orgId !== undefined) requestHeaders['x-scope-orgid'] = orgId;
    // headersTimeout/bodyTimeout bound the waits for Loki; this bounds the whole exchange,
    // including a slow upload to a stalled receiver.
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const started = performance.now();
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: this.#pushPath,
        headers: requestHeaders,
        body,
        signal,
      });
      const message = await readBounded(response.body);
      const outcome = classifyAnswer(
        { status: response.statusCode, message, retryAfter: firstHeader(response.headers['retry-after']) },
        this.#now(),
      );
      return { outcome, latencyMs: performance.now() - started };
    } catch (err) {
      const timedOut = isTimeout(err, signal);
      const message = timedOut ? `no complete answer within ${this.#timeoutMs} ms` : describeFailure(err);
      return { outcome: classifyTransportFailure(timedOut, message), latencyMs: performance.now() - started };
    }
  }

  async get(path: string, timeoutMs: number): Promise<LokiAnswer> {
    this.#assertOpen();
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await this.#pool.request({
        method: 'GET',
        path: `${this.#pathPrefix}${path}`,
        headers: this.#baseHeaders,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      return { status: response.statusCode, body: await readBounded(response.body) };
    } catch (err) {
      throw new Error(isTimeout(err, signal) ? `no answer within ${timeoutMs} ms` : describeFailure(err), { cause: err });
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new Error('loki-client: used after close()');
  }
}

export function createLokiClient(config: LokiConfig, options: LokiClientOptions): LokiClient {
  return new UndiciLokiClient(config, options);
}
