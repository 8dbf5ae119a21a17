/**
 * How a route reads JSON bodies: `application/json` only, identity or gzip, at most
 * `max_body_bytes` both as sent and as inflated, within the request timeout, and within what
 * the bodies of all requests may hold at once (body-budget.ts). Inflation stops at the limit,
 * so a gzip bomb costs at most `max_body_bytes` of memory.
 *
 * A body cut off (too large, too slow, over the budget) is not read any further: the answer
 * closes the connection (unread-body.ts).
 */
import { Transform, finished, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { logstackError, type LogstackError } from '../errors.js';
import { freeBuffer } from '../pipeline/freed-buffer.js';
import type { BodyBudget, BodyLease } from './body-budget.js';
import { BodyHold, decorateBodyHold } from './body-hold.js';
import { clientText } from './client-text.js';
import { jsonParseCost } from './json-parse-cost.js';

/** How long a client refused for the body budget is asked to wait (s): bodies in flight last about that long. */
export const BUSY_RETRY_AFTER_SECONDS = 1;

export function serverBusy(): LogstackError {
  return logstackError('HTTP_BUSY', [BUSY_RETRY_AFTER_SECONDS], { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS });
}

/**
 * Takes `bytes` more for the request from its lease: 503 when the budget or its key's share has
 * not that much left now; `tooCostly` (a 413) when the request would hold more than its key's
 * whole share, which no retry of a 503 would ever fit.
 */
export function holdOrRefuse(lease: BodyLease, bytes: number, tooCostly: (held: number, budgetBytes: number) => LogstackError = requestTooCostly): void {
  if (lease.take(bytes)) return;
  if (lease.held + bytes > lease.budgetBytes) throw tooCostly(lease.held + bytes, lease.budgetBytes);
  throw serverBusy();
}

function requestTooCostly(held: number, budgetBytes: number): LogstackError {
  return logstackError('HTTP_REQUEST_TOO_COSTLY', [held, budgetBytes]);
}

/**
 * Takes from the request's lease what JSON.parse will hold for `body` (json-parse-cost.ts),
 * before it runs, until the parsed body is released (released-body.ts).
 */
export function chargeJsonParse(request: FastifyRequest, body: Buffer): void {
  const bytes = jsonParseCost(body);
  holdOrRefuse(request.bodyHold!.lease, bytes, (held, budgetBytes) => logstackError('HTTP_JSON_TOO_COSTLY', [held, budgetBytes]));
  request.parsedBodyBytes += bytes;
}

export type ContentCoding = 'identity' | 'gzip';

/** Throws 415 unless the body is declared as UTF-8 JSON. */
export function checkContentType(header: string | undefined): void {
  const [mediaType = '', ...parameters] = (header ?? '').split(';').map((part) => part.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (mediaType === 'application/json' && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) return;
  throw logstackError('HTTP_UNSUPPORTED_MEDIA_TYPE', [header === undefined ? '(none)' : clientText(header)]);
}

/** The body's coding; throws 415 for anything but identity and a single gzip. */
export function contentCoding(header: string | undefined): ContentCoding {
  const coding = (header ?? 'identity').trim().toLowerCase();
  if (coding === 'identity' || coding === '') return 'identity';
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  throw logstackError('HTTP_UNSUPPORTED_ENCODING', [clientText(header ?? '')]);
}

/** Where and why a body is not JSON, without quoting it: bodies carry secrets. */
export function describeJsonError(text: string): string {
  if (text.trim() === '') return 'the body is empty';
  try {
    JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /^(.*?) in JSON at position (\d+)/.exec(message);
    if (at !== null) {
      const position = Number(at[2]);
      const before = text.slice(0, position);
      const line = before.split('\n').length;
      const column = position - before.lastIndexOf('\n');
      return `${at[1]} at line ${line}, column ${column} (character ${position})`;
    }
    if (message.startsWith('Unexpected end of JSON input')) return `the body ends inside a JSON value (after ${text.length} characters)`;
    return message.startsWith('Unexpected token') ? 'unexpected token where a JSON value should start' : 'not valid JSON';
  }
  // JSON.parse accepts it, so the secure parser refused a prototype-poisoning key.
  return 'a "__proto__" or "constructor.prototype" key is not allowed';
}

/**
 * The decoded body as fastify reads it; `receivedEncodedLength` lets it check Content-Length.
 * What it passes on is held until the request is answered, so it is what the lease counts.
 */
class BoundedBody extends Transform {
  receivedEncodedLength = 0;
  #decodedLength = 0;
  readonly #maxBytes: number;
  readonly #lease: BodyLease;

  constructor(maxBytes: number, lease: BodyLease) {
    super();
    this.#maxBytes = maxBytes;
    this.#lease = lease;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#decodedLength += chunk.length;
    if (this.#decodedLength > this.#maxBytes) callback(logstackError('HTTP_BODY_TOO_LARGE', [this.#maxBytes]));
    else if (!this.#lease.take(chunk.length)) callback(serverBusy());
    else callback(null, chunk);
  }
}

export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
  /** What the bodies of all requests, and of one key's requests, may hold at once. */
  budget: BodyBudget;
}

/**
 * The checks a preParsing hook makes, after authentication, before a byte of the body is read:
 * its declared length against the limit (413) and against what the budget and the key's share
 * have left (503). Returns the request's lease, given back once the answer is done and the
 * route's work on the body too (body-hold.ts).
 */
export function admitBody(request: FastifyRequest, reply: FastifyReply, limits: BodyLimits): BodyLease {
  const declared = Number(request.headers['content-length']);
  if (declared > limits.maxBytes) throw logstackError('HTTP_BODY_TOO_LARGE', [limits.maxBytes]);
  if (request.keyName === null) throw new TypeError('a body is read only for a request with an API key');
  const lease = limits.budget.lease(request.keyName);
  if (declared > 0 && !lease.fits(declared)) throw serverBusy();
  request.bodyHold = new BodyHold(lease, reply.raw);
  return lease;
}

/** `raw` decoded by `coding`, cut off past the limits; what a preParsing hook returns. */
export function boundedBody(raw: Readable, coding: ContentCoding, limits: BodyLimits, lease: BodyLease): Readable {
  const body = new BoundedBody(limits.maxBytes, lease);
  const gunzip = coding === 'gzip' ? createGunzip() : null;
  const first = gunzip ?? body;

  const stop = (err: LogstackError | Error): void => {
    clearTimeout(timer);
    stopWatchingRaw();
    raw.off('data', countEncoded);
    // The rest is never read: the answer closes the connection.
    raw.unpipe(first);
    gunzip?.destroy();
    body.destroy(err);
  };
  const countEncoded = (chunk: Buffer): void => {
    body.receivedEncodedLength += chunk.length;
    if (body.receivedEncodedLength > limits.maxBytes) stop(logstackError('HTTP_BODY_TOO_LARGE', [limits.maxBytes]));
  };

  const timer = setTimeout(() => stop(logstackError('HTTP_REQUEST_TIMEOUT')), limits.timeoutMs);
  const stopWatchingRaw = finished(raw, { writable: false }, (err) => {
    clearTimeout(timer);
    if (err) stop(err);
  });
  // fastify may already have answered when an error comes (and removed its listener): no crash then.
  body.on('error', () => {});
  body.once('close', () => {
    clearTimeout(timer);
    gunzip?.destroy();
  });
  gunzip?.on('error', (err) => stop(logstackError('HTTP_BAD_ENCODING', [err.message], { cause: err })));

  raw.pipe(first);
  raw.on('data', countEncoded);
  gunzip?.pipe(body);
  return body;
}

/**
 * Makes the routes of `app` (an encapsulated context) accept JSON bodies only, read as above,
 * what parsing holds charged before it is parsed, with fastify's secure parser (`__proto__` and
 * `constructor.prototype` keys refused).
 */
export function acceptJsonBodies(app: FastifyInstance, limits: BodyLimits): void {
  const secureParse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser<Buffer>('application/json', { parseAs: 'buffer', bodyLimit: limits.maxBytes }, (request, body, done) => {
    try {
      chargeJsonParse(request, body);
    } catch (err) {
      done(err as LogstackError);
      return;
    }
    const text = body.toString('utf8');
    freeBuffer(body);
    secureParse(request, text, (err, value) => {
      if (err === null) done(null, value);
      else done(logstackError('HTTP_INVALID_JSON', [describeJsonError(text)]));
    });
  });

  decorateBodyHold(app);
  app.addHook('preParsing', async (request, reply, payload) => {
    checkContentType(request.headers['content-type']);
    const coding = contentCoding(request.headers['content-encoding']);
    // Refused before a byte is read (or inflated).
    const lease = admitBody(request, reply, limits);
    return boundedBody(payload, coding, limits, lease);
  });
}
