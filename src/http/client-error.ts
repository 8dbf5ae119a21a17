/**
 * The answer to a request node's HTTP parser refused before fastify saw it: a malformed request
 * line or header, bytes left over after a body shorter than its Content-Length, headers over
 * the size limit, node's own request timeout. Like every other answer it carries our error body
 * and a request id; fastify's default sends neither.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { logstackError, type LogstackError } from '../errors.js';
import { errorBody } from './error-handler.js';
import { REQUEST_ID_HEADER } from './request-id.js';

/** The catalogue error for a parser error; its message names the parser's code, never the bytes. */
export function clientErrorFor(err: NodeJS.ErrnoException): LogstackError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return logstackError('HTTP_REQUEST_TIMEOUT', [], { cause: err });
  if (err.code === 'HPE_HEADER_OVERFLOW') return logstackError('HTTP_HEADERS_TOO_LARGE', [], { cause: err });
  return logstackError('HTTP_BAD_REQUEST', [`The request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`], { cause: err });
}

/** fastify's `clientErrorHandler`: answers on the raw socket, then closes it. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has no one left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Nor one whose TLS failed (an alert, a refused renegotiation): an answer would never be sent,
  // and waiting to send it would hold the connection open.
  if (!socket.writable || err.code?.startsWith('ERR_SSL_') === true) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const error = clientErrorFor(err);
  const body = JSON.stringify(errorBody(error, requestId));
  const head = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    `${REQUEST_ID_HEADER}: ${requestId}`,
    'connection: close',
  ];
  // The parser cannot resume on this connection: close it once the answer is out.
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}
