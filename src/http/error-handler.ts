/**
 * Every non-2xx answer: `{"error": <stable code>, "message", "request_id", "details"?}` with the
 * status of the catalogue entry. Fastify's own errors are mapped onto the catalogue; 5xx answers
 * never show internals (the error is logged under the request id instead).
 *
 * A 500's log line names its cause by type, code and stack frames, not by its message: a bug met
 * on a request's input may quote that input (Node's argument errors print the value they were
 * given), and the input may be a card number or a token.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isLogstackError, logstackError, type LogstackError } from '../errors.js';
import { clientText } from './client-text.js';
import { REQUEST_ID_HEADER } from './request-id.js';

export interface ErrorBody {
  error: string;
  message: string;
  request_id: string;
  details?: unknown;
}

/** When a 429 or 503 carries no hint of its own: long enough for a drain or clean-up to show. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

export interface ErrorContext {
  readonly maxBodyBytes: number;
  readonly contentType: string | undefined;
}

/** The catalogue error that answers `err`. */
export function asLogstackError(err: unknown, context: ErrorContext): LogstackError {
  if (isLogstackError(err)) return err;
  const fastifyError = err as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return logstackError('HTTP_BODY_TOO_LARGE', [context.maxBodyBytes]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return logstackError('HTTP_UNSUPPORTED_MEDIA_TYPE', [clientText(context.contentType ?? '(none)')]);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return logstackError('HTTP_INVALID_JSON', ['the body is empty']);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return logstackError('HTTP_INVALID_JSON', ['not valid JSON, or a "__proto__" or "constructor.prototype" key']);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return logstackError('HTTP_BAD_REQUEST', ['Content-Length does not match the body']);
    default:
      // Other 400s from fastify (a malformed URL, schema validation) describe the request only.
      if (fastifyError.statusCode === 400 && typeof fastifyError.message === 'string') {
        return logstackError('HTTP_BAD_REQUEST', [fastifyError.message], { details: fastifyError.validation, cause: err });
      }
      return logstackError('HTTP_INTERNAL', [], { cause: err });
  }
}

export function errorBody(error: LogstackError, requestId: string): ErrorBody {
  // A 500 is a bug whose message may hold internals; 503/504 messages are written for clients.
  const body: ErrorBody =
    error.status === 500
      ? { error: error.apiError, message: `LogStack could not take the request; see its logs for request ${requestId}`, request_id: requestId }
      : { error: error.apiError, message: error.message, request_id: requestId };
  if (error.details !== undefined && error.status !== 500) body.details = error.details;
  return body;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The `error` code answered, for the request's log line and metrics; null on success. */
    apiError: string | null;
  }
}

/** How deep a cause chain is followed in a log line: a wrapper and what it wraps, with room to spare. */
const MAX_LOGGED_CAUSES = 3;

/**
 * What the log line of a 500 says of `err`: its type, its code (`ERR_INVALID_ARG_TYPE`,
 * `ECONNREFUSED`, LogStack's), the stack frames that say where, and its causes alike. The message
 * only of LogStack's own errors, whose templates are ours.
 */
export function internalErrorForLog(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: err === null ? 'null' : typeof err };
  const described: Record<string, unknown> = { type: err.name };
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (typeof code === 'string') described['code'] = code;
  if (typeof syscall === 'string') described['syscall'] = syscall;
  if (isLogstackError(err)) described['message'] = err.message;
  described['stack'] = (err.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');
  if (err.cause !== undefined && depth < MAX_LOGGED_CAUSES) described['cause'] = internalErrorForLog(err.cause, depth + 1);
  return described;
}

/** Sets the status and headers of the answer to `err` on `reply`, and returns its body. */
export function errorAnswer(err: unknown, request: FastifyRequest, reply: FastifyReply, maxBodyBytes: number): ErrorBody {
  const error = asLogstackError(err, { maxBodyBytes, contentType: request.headers['content-type'] });
  // Failed before its handler, or in it: nothing works on its body any more.
  request.bodyHold?.workDone();
  if (error.status === 500) request.log.error({ err: internalErrorForLog(err) }, error.message);
  else if (error.status === 503) {
    // Busy, stopping, or the WAL unavailable: a client makes as many of these as it likes, so the
    // line is bounded like any refusal's, and a stack would say nothing an operator can use.
    const cause = error.cause instanceof Error ? { cause: error.cause.message } : {};
    request.server.refusalLog.write(request, 'warn', { err: { code: error.code, message: error.message, ...cause } }, error.message);
  } else if (error.status > 500) request.log.warn({ err }, error.message);
  const retryAfter = error.retryAfterSeconds ?? (error.status === 429 || error.status === 503 ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  // Also here, not only in the onRequest hook: errors raised before routing (a malformed URL) skip it.
  reply.header(REQUEST_ID_HEADER, request.id);
  request.apiError = error.apiError;
  reply.code(error.status);
  return errorBody(error, request.id);
}

export interface ErrorHandlerOptions {
  maxBodyBytes: number;
}

export const errorHandlerPlugin = fp<ErrorHandlerOptions>(
  async (app, { maxBodyBytes }) => {
    app.decorateRequest('apiError', null);
    app.setErrorHandler((err, request, reply) => errorAnswer(err, request, reply, maxBodyBytes));
    /** 404, or 405 with `Allow` when the path exists with other methods. */
    const noRoute = (request: FastifyRequest, reply: FastifyReply): LogstackError => {
      const path = request.url.split('?', 1)[0] ?? '';
      const allowed = app.routeTable.get(path);
      if (allowed === undefined) return logstackError('HTTP_NOT_FOUND', [request.method, clientText(path)]);
      reply.header('allow', [...allowed].join(', '));
      return logstackError('HTTP_METHOD_NOT_ALLOWED', [request.method, clientText(path)]);
    };
    // Answered from onRequest, before fastify would parse a body for the not-found handler:
    // an unrouted request's body is never read (and an empty one is no `invalid_json`).
    app.addHook('onRequest', async (request, reply) => {
      if (request.is404) throw noRoute(request, reply);
    });
    app.setNotFoundHandler((request, reply) => errorAnswer(noRoute(request, reply), request, reply, maxBodyBytes));
  },
  { name: 'logstack-error-handler', fastify: '5.x', dependencies: ['logstack-route-table'] },
);
