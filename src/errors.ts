/**
 * The catalogue of LogStack's operational errors. Each has a stable code, the `error` string the
 * HTTP API answers with, the HTTP status it maps to, and a message template (`%s` placeholders
 * filled in order). `docs/errors.md` lists the same entries; a test keeps the two in step.
 * Programmer mistakes are not here: they stay plain TypeError / assertion failures.
 */

export interface ErrorSpec {
  /** Stable across releases; what operators grep for. */
  readonly code: string;
  /** Stable `error` field of the HTTP error body. */
  readonly apiError: string;
  readonly status: number;
  readonly template: string;
}

function spec(code: string, apiError: string, status: number, template: string): ErrorSpec {
  return Object.freeze({ code, apiError, status, template });
}

export const ERRORS = Object.freeze({
  // --- HTTP edge ---------------------------------------------------------------------------
  HTTP_UNAUTHORIZED: spec('LOGSTACK_ERR_HTTP_UNAUTHORIZED', 'unauthorized', 401, 'Missing, unknown or inactive API token'),
  HTTP_FORBIDDEN: spec('LOGSTACK_ERR_HTTP_FORBIDDEN', 'forbidden', 403, 'This endpoint needs the admin token'),
  HTTP_NOT_FOUND: spec('LOGSTACK_ERR_HTTP_NOT_FOUND', 'not_found', 404, 'No route %s %s'),
  HTTP_METHOD_NOT_ALLOWED: spec('LOGSTACK_ERR_HTTP_METHOD_NOT_ALLOWED', 'method_not_allowed', 405, 'Method %s is not allowed on %s'),
  HTTP_INVALID_JSON: spec('LOGSTACK_ERR_HTTP_INVALID_JSON', 'invalid_json', 400, 'The body is not valid JSON: %s'),
  HTTP_BODY_TOO_LARGE: spec('LOGSTACK_ERR_HTTP_BODY_TOO_LARGE', 'payload_too_large', 413, 'The body is larger than %s bytes (limits.max_body_bytes, counted after decompression)'),
  HTTP_TOO_MANY_ENTRIES: spec('LOGSTACK_ERR_HTTP_TOO_MANY_ENTRIES', 'too_many_entries', 413, 'The batch has %s entries; at most %s are accepted (limits.max_entries)'),
  HTTP_UNSUPPORTED_MEDIA_TYPE: spec('LOGSTACK_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', 'unsupported_media_type', 415, 'Content-Type %s is not supported; send application/json'),
  HTTP_UNSUPPORTED_ENCODING: spec('LOGSTACK_ERR_HTTP_UNSUPPORTED_ENCODING', 'unsupported_content_encoding', 415, 'Content-Encoding %s is not supported; send identity or gzip'),
  HTTP_BAD_ENCODING: spec('LOGSTACK_ERR_HTTP_BAD_ENCODING', 'invalid_content_encoding', 400, 'The body could not be decompressed: %s'),
  HTTP_BAD_REQUEST: spec('LOGSTACK_ERR_HTTP_BAD_REQUEST', 'bad_request', 400, '%s'),
  HTTP_HEADERS_TOO_LARGE: spec('LOGSTACK_ERR_HTTP_HEADERS_TOO_LARGE', 'headers_too_large', 431, 'The request line and headers are larger than the server accepts'),
  HTTP_REQUEST_TIMEOUT: spec('LOGSTACK_ERR_HTTP_REQUEST_TIMEOUT', 'request_timeout', 408, 'The request did not arrive in time (server.request_timeout_seconds)'),
  HTTP_RATE_LIMITED: spec('LOGSTACK_ERR_HTTP_RATE_LIMITED', 'rate_limit_exceeded', 429, 'Rate limit of token %s exceeded; retry after %s s'),
  HTTP_JSON_TOO_COSTLY: spec('LOGSTACK_ERR_HTTP_JSON_TOO_COSTLY', 'payload_too_large', 413, 'Parsed, the JSON body would hold %s bytes of memory, more than limits.max_body_bytes_in_flight_per_key (%s) lets the requests of one API key hold at once; send smaller batches'),
  HTTP_REQUEST_TOO_COSTLY: spec('LOGSTACK_ERR_HTTP_REQUEST_TOO_COSTLY', 'payload_too_large', 413, 'Decoded, the request would hold %s bytes of memory, more than limits.max_body_bytes_in_flight_per_key (%s) lets the requests of one API key hold at once; send smaller batches'),
  HTTP_BUSY: spec('LOGSTACK_ERR_HTTP_BUSY', 'server_busy', 503, 'LogStack holds as many request bodies as it may at once, in all or for this API key (limits.max_body_bytes_in_flight, limits.max_body_bytes_in_flight_per_key); retry after %s s'),
  HTTP_CLIENT_GONE: spec('LOGSTACK_ERR_HTTP_CLIENT_GONE', 'client_closed_request', 499, 'The client closed the connection before its answer; nothing of the request was stored'),
  HTTP_SHUTTING_DOWN: spec('LOGSTACK_ERR_HTTP_SHUTTING_DOWN', 'shutting_down', 503, 'LogStack is shutting down; retry on another instance'),
  HTTP_INTERNAL: spec('LOGSTACK_ERR_HTTP_INTERNAL', 'internal_error', 500, 'Internal error; see the logs for request %s'),

  // --- admin -------------------------------------------------------------------------------
  ADMIN_FLUSH_TIMEOUT: spec('LOGSTACK_ERR_ADMIN_FLUSH_TIMEOUT', 'flush_timeout', 504, 'Not everything was delivered within %s s; details has each token'),

  // --- validation ---------------------------------------------------------------------------
  VALIDATION_FAILED: spec('LOGSTACK_ERR_VALIDATION_FAILED', 'validation_failed', 400, '%s of %s entries are invalid; nothing of the batch was written%s'),

  // --- Loki push API ---------------------------------------------------------------------------
  LOKI_PUSH_UNSUPPORTED_MEDIA_TYPE: spec('LOGSTACK_ERR_LOKI_PUSH_UNSUPPORTED_MEDIA_TYPE', 'unsupported_media_type', 415, 'Content-Type %s is not supported; send application/x-protobuf (snappy) or application/json'),
  LOKI_PUSH_UNSUPPORTED_ENCODING: spec('LOGSTACK_ERR_LOKI_PUSH_UNSUPPORTED_ENCODING', 'unsupported_content_encoding', 415, 'Content-Encoding %s is not supported with %s; send %s'),
  LOKI_PUSH_UNDECODABLE: spec('LOGSTACK_ERR_LOKI_PUSH_UNDECODABLE', 'invalid_push_body', 400, 'The body is not a Loki push request: %s'),
  LOKI_PUSH_TOO_MANY_ENTRIES: spec('LOGSTACK_ERR_LOKI_PUSH_TOO_MANY_ENTRIES', 'too_many_entries', 413, 'The push has more than %s entries (loki_push.max_entries_per_push); send smaller batches'),
  LOKI_PUSH_TOO_MANY_STREAMS: spec('LOGSTACK_ERR_LOKI_PUSH_TOO_MANY_STREAMS', 'too_many_streams', 413, 'The push has more than %s streams (loki_push.max_streams_per_push); send smaller batches'),
  LOKI_PUSH_INVALID: spec('LOGSTACK_ERR_LOKI_PUSH_INVALID', 'validation_failed', 400, '%s of %s entries are invalid; nothing of the push was written'),

  // --- OTLP/HTTP -------------------------------------------------------------------------------
  OTLP_UNSUPPORTED_MEDIA_TYPE: spec('LOGSTACK_ERR_OTLP_UNSUPPORTED_MEDIA_TYPE', 'unsupported_media_type', 415, 'Content-Type %s is not supported; send application/x-protobuf or application/json'),
  OTLP_UNDECODABLE: spec('LOGSTACK_ERR_OTLP_UNDECODABLE', 'invalid_otlp_body', 400, 'The body is not an OTLP logs export request: %s'),
  OTLP_TOO_MANY_RECORDS: spec('LOGSTACK_ERR_OTLP_TOO_MANY_RECORDS', 'too_many_entries', 413, 'The request has more than %s log records (otlp.max_log_records); send smaller batches'),
  OTLP_TOO_COSTLY: spec('LOGSTACK_ERR_OTLP_TOO_COSTLY', 'payload_too_large', 413, 'Decoded, the request would hold %s bytes of memory, more than limits.max_body_bytes_in_flight_per_key (%s) lets the requests of one API key hold at once; send smaller batches'),

  // --- WAL ----------------------------------------------------------------------------------
  WAL_QUOTA_EXCEEDED: spec('LOGSTACK_ERR_WAL_QUOTA_EXCEEDED', 'wal_quota_exceeded', 429, 'The WAL of token %s is full (%s of %s bytes); accepted data is kept, retry when it drains'),
  WAL_DISK_RESERVE: spec('LOGSTACK_ERR_WAL_DISK_RESERVE', 'disk_reserve_reached', 503, 'Free disk space of the WAL volume is %s%, under the reserve of %s%'),
  WAL_UNAVAILABLE: spec('LOGSTACK_ERR_WAL_UNAVAILABLE', 'wal_unavailable', 503, 'The WAL of token %s could not persist the batch: %s'),
  WAL_LOCKED: spec('LOGSTACK_ERR_WAL_LOCKED', 'wal_locked', 500, 'The WAL root %s is locked by another LogStack process; one process per WAL root'),
  WAL_NOT_OPEN: spec('LOGSTACK_ERR_WAL_NOT_OPEN', 'wal_unavailable', 503, 'The WAL is %s'),
  WAL_RECORD_TOO_LARGE: spec('LOGSTACK_ERR_WAL_RECORD_TOO_LARGE', 'record_too_large', 413, '%s of %s bytes is over the %s bytes the WAL stores for one; nothing of the batch was written'),

  // --- delivery -----------------------------------------------------------------------------
  DELIVERY_THREAD_EXITED: spec('LOGSTACK_ERR_DELIVERY_THREAD_EXITED', 'internal_error', 500, 'The delivery thread is gone (%s); the batch will be retried'),

  // --- config -------------------------------------------------------------------------------
  CONFIG_INVALID: spec('LOGSTACK_ERR_CONFIG_INVALID', 'config_invalid', 500, 'Invalid configuration: %s'),
  CONFIG_UNREADABLE: spec('LOGSTACK_ERR_CONFIG_UNREADABLE', 'config_invalid', 500, 'Cannot read configuration file %s: %s'),
} as const);

export type ErrorName = keyof typeof ERRORS;

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

export interface LogstackErrorOptions {
  cause?: unknown;
  /** Extra detail for the HTTP body (`details`), e.g. the per-entry validation problems. */
  details?: unknown;
  /** Seconds, sent as `Retry-After` on 429 / 503. */
  retryAfterSeconds?: number;
}

export class LogstackError extends Error {
  readonly code: string;
  readonly apiError: string;
  readonly status: number;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(spec: ErrorSpec, args: readonly unknown[] = [], options: LogstackErrorOptions = {}) {
    super(format(spec.template, args), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LogstackError';
    this.code = spec.code;
    this.apiError = spec.apiError;
    this.status = spec.status;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function logstackError(name: ErrorName, args: readonly unknown[] = [], options?: LogstackErrorOptions): LogstackError {
  return new LogstackError(ERRORS[name], args, options);
}

export function isLogstackError(err: unknown, name?: ErrorName): err is LogstackError {
  return err instanceof LogstackError && (name === undefined || err.code === ERRORS[name].code);
}
