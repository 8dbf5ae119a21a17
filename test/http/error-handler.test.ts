import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import { logstackError } from '../../src/errors.js';
import { asLogstackError, errorBody, internalErrorForLog } from '../../src/http/error-handler.js';
import { ADMIN_TOKEN, APP_TOKEN, send, startServer } from '../support/http-server.js';

const context = { maxBodyBytes: 1234, contentType: 'text/xml' };

function fastifyError(code: string, statusCode: number, message = code): Error {
  return Object.assign(new Error(message), { code, statusCode });
}

t.test("fastify's errors map onto the catalogue", async (t) => {
  const cases: Array<[Error, string, number, RegExp]> = [
    [fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413), 'payload_too_large', 413, /1234 bytes/],
    [fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415), 'unsupported_media_type', 415, /text\/xml/],
    [fastifyError('FST_ERR_CTP_EMPTY_JSON_BODY', 400), 'invalid_json', 400, /empty/],
    [fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400), 'invalid_json', 400, /not valid JSON/],
    [fastifyError('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400), 'bad_request', 400, /Content-Length/],
    [fastifyError('FST_ERR_BAD_URL', 400, "'/%zz' is not a valid url component"), 'bad_request', 400, /valid url/],
    [new Error('EIO: i/o error, open /var/lib/wal/x'), 'internal_error', 500, /Internal error/],
    [new TypeError('undefined is not a function'), 'internal_error', 500, /Internal error/],
  ];
  for (const [err, apiError, status, message] of cases) {
    t.match(asLogstackError(err, context), { apiError, status, message }, err.message);
  }
  const own = logstackError('WAL_QUOTA_EXCEEDED', ['app', 10, 10], { retryAfterSeconds: 30 });
  t.equal(asLogstackError(own, context), own, 'catalogue errors pass as they are');
});

t.test('the error body: stable code, message, request id, details only where they help', async (t) => {
  const details = [{ index: 0, pointer: '/entries/0/level', reason: 'must be one of …' }];
  t.same(errorBody(logstackError('VALIDATION_FAILED', [1, 1, ''], { details }), 'r-1'), {
    error: 'validation_failed',
    message: '1 of 1 entries are invalid; nothing of the batch was written',
    request_id: 'r-1',
    details,
  });
  const internal = errorBody(logstackError('HTTP_INTERNAL', ['r-2'], { details: { path: '/var' } }), 'r-2');
  t.same(internal, { error: 'internal_error', message: 'LogStack could not take the request; see its logs for request r-2', request_id: 'r-2' }, '500: no internals');
  const unavailable = errorBody(logstackError('WAL_DISK_RESERVE', ['3.0', 5]), 'r-3');
  t.same(unavailable, { error: 'disk_reserve_reached', message: 'Free disk space of the WAL volume is 3.0%, under the reserve of 5%', request_id: 'r-3' }, '503: says why, for the client');
});

t.test("a 500's log line never quotes the error's message, which may quote the request's input; LogStack's own messages stay", async (t) => {
  let thrown: unknown;
  try {
    // What a bug met on a client's value throws: Node prints the value it was given.
    Buffer.from(4111111111111111 as unknown as string);
  } catch (err) {
    thrown = err;
  }
  t.match(String((thrown as Error).message), /4111111111111111/, "Node's own message quotes the value");
  const logged = internalErrorForLog(logstackError('HTTP_INTERNAL', ['r-1'], { cause: thrown }));
  t.match(logged, { type: 'LogstackError', message: 'Internal error; see the logs for request r-1', cause: { type: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', stack: /^\s+at / } });
  t.notMatch(JSON.stringify(logged), /4111/);
  t.same(internalErrorForLog('a string thrown'), { type: 'string' });
});

t.test('over HTTP', async (t) => {
  const server = await startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN } },
    deps: {
      adminStatus: () => {
        throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:3100 (internal detail)'), { code: 'ECONNREFUSED', syscall: 'connect' });
      },
    },
  });

  t.test('500 says where to look, logs the error under the request id by type, code and frames, and shows no internals', async (t) => {
    const answer = await send(server, '/v1/admin/status', { token: ADMIN_TOKEN });
    t.equal(answer.status, 500);
    const id = answer.headers['x-request-id'];
    t.same(answer.json, { error: 'internal_error', message: `LogStack could not take the request; see its logs for request ${id}`, request_id: id });
    t.notMatch(answer.text, /ECONNREFUSED|10\.0\.0\.7/);
    const logged = server.logLines().find((line) => line.level === 50);
    t.match(logged, { request_id: id, err: { type: 'Error', code: 'ECONNREFUSED', syscall: 'connect', stack: /^\s+at .*error-handler\.test\.ts/ } });
    t.notMatch(JSON.stringify(logged), /10\.0\.0\.7/, 'not its message');
  });

  t.test('404 for an unknown path, 405 with Allow for a known one', async (t) => {
    const missing = await send(server, '/v1/logs:nothing?token=abc');
    t.equal(missing.status, 404);
    t.same(missing.json, { error: 'not_found', message: 'No route GET /v1/logs:nothing', request_id: missing.headers['x-request-id'] });
    const wrongMethod = await send(server, '/v1/logs:ingest', { method: 'DELETE', token: APP_TOKEN });
    t.equal(wrongMethod.status, 405);
    t.equal(wrongMethod.headers.allow, 'POST');
    t.match(wrongMethod.json, { error: 'method_not_allowed' });
  });

  t.test('a malformed URL gets our error body and request id too', async (t) => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.end('GET /%zz HTTP/1.1\r\nHost: x\r\nX-Request-ID: bad-url-1\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    const response = Buffer.concat(chunks).toString('utf8');
    t.match(response, /^HTTP\/1\.1 400 /);
    t.match(response, /\r\nx-request-id: bad-url-1\r\n/i);
    t.match(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)), { error: 'bad_request', request_id: 'bad-url-1' });
  });
});
