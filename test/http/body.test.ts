import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { gzipOfZeros } from '../support/gzip-bomb.js';
import { checkContentType, contentCoding, describeJsonError } from '../../src/http/body.js';
import { APP_TOKEN, batch, send, startServer, type TestServer } from '../support/http-server.js';

const MAX_BODY_BYTES = 64 * 1024;

/** Writes `head` (and then nothing) on a raw socket; resolves with all the server sends until it closes. */
async function rawExchange(server: TestServer, head: string): Promise<string> {
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(head);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

function jsonOf(rawResponse: string): any {
  return JSON.parse(rawResponse.slice(rawResponse.indexOf('\r\n\r\n') + 4));
}

t.test('content type: JSON in UTF-8 only', async (t) => {
  t.doesNotThrow(() => checkContentType('application/json'));
  t.doesNotThrow(() => checkContentType('Application/JSON; charset=UTF-8'));
  t.doesNotThrow(() => checkContentType('application/json;charset="utf-8"'));
  for (const refused of [undefined, '', 'text/plain', 'application/json-seq', 'application/x-ndjson', 'application/json; charset=latin1']) {
    t.throws(() => checkContentType(refused), { code: 'LOGSTACK_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', status: 415 }, String(refused));
  }
});

t.test('content encoding: identity or gzip', async (t) => {
  t.equal(contentCoding(undefined), 'identity');
  t.equal(contentCoding('identity'), 'identity');
  t.equal(contentCoding(' GZIP '), 'gzip');
  t.equal(contentCoding('x-gzip'), 'gzip');
  for (const refused of ['br', 'deflate', 'gzip, gzip', 'zstd']) {
    t.throws(() => contentCoding(refused), { code: 'LOGSTACK_ERR_HTTP_UNSUPPORTED_ENCODING', status: 415 }, refused);
  }
});

t.test('JSON errors say where, never what', async (t) => {
  t.equal(describeJsonError(''), 'the body is empty');
  t.match(describeJsonError('{"entries": {"a": 1,}}'), /line 1, column 21/);
  t.match(describeJsonError('{\n  "a": 1,\n  "b" 2\n}'), /line 3, column 7/);
  t.match(describeJsonError('{"secret": "hunter2'), /line 1, column 20/);
  t.match(describeJsonError('{"entries": ['), /ends inside a JSON value/);
  const unexpected = describeJsonError('sk_live_secret_value');
  t.notMatch(unexpected, /sk_live|secret/);
  t.match(describeJsonError('{"__proto__": {"admin": true}}'), /__proto__/);
});

t.test('the HTTP edge reads bodies within their limits', async (t) => {
  const server = await startServer(t, { config: { limits: { max_body_bytes: MAX_BODY_BYTES }, server: { request_timeout_seconds: 1 } } });

  t.test('gzip bodies are inflated and accepted', async (t) => {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: gzipSync(batch(3)), headers: { 'content-encoding': 'gzip' } });
    t.equal(answer.status, 202);
    t.same(answer.json, { accepted: 3, request_id: answer.headers['x-request-id'] });
  });

  t.test('415 for another content type, with its name', async (t) => {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1), headers: { 'content-type': 'text/plain' } });
    t.equal(answer.status, 415);
    t.match(answer.json, { error: 'unsupported_media_type', message: /text\/plain/, request_id: answer.headers['x-request-id'] });
  });

  t.test('415 for another content encoding', async (t) => {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1), headers: { 'content-encoding': 'br' } });
    t.equal(answer.status, 415);
    t.match(answer.json, { error: 'unsupported_content_encoding', message: /br/ });
  });

  t.test('413 when the body as sent is over max_body_bytes', async (t) => {
    const body = JSON.stringify({ entries: [], padding: 'x'.repeat(MAX_BODY_BYTES) });
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body });
    t.equal(answer.status, 413);
    t.match(answer.json, { error: 'payload_too_large', message: new RegExp(String(MAX_BODY_BYTES)), request_id: String });
  });

  t.test('413 for a gzip bomb, without inflating it', async (t) => {
    const bomb = await gzipOfZeros(200 * 1024 * 1024);
    t.ok(bomb.length < 1024 * 1024, `the bomb is ${bomb.length} bytes on the wire`);
    const rssBefore = process.memoryUsage().rss;
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: bomb, headers: { 'content-encoding': 'gzip' } });
    t.equal(answer.status, 413);
    t.equal(answer.json.error, 'payload_too_large');
    const grownBy = process.memoryUsage().rss - rssBefore;
    t.ok(grownBy < 64 * 1024 * 1024, `RSS grew by ${Math.round(grownBy / 1024 / 1024)} MiB, not by the 200 MiB inflated`);
  });

  t.test('400 invalid_content_encoding for truncated or corrupt gzip', async (t) => {
    const gzipped = gzipSync(batch(5));
    for (const [what, body] of [
      ['truncated', gzipped.subarray(0, gzipped.length - 12)],
      ['not gzip at all', Buffer.from(batch(1))],
    ] as const) {
      const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body, headers: { 'content-encoding': 'gzip' } });
      t.equal(answer.status, 400, what);
      t.match(answer.json, { error: 'invalid_content_encoding', request_id: String }, what);
    }
  });

  t.test('400 invalid_json says where the JSON breaks', async (t) => {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: '{"entries": [{"message": "hunter2",}]}' });
    t.equal(answer.status, 400);
    t.match(answer.json, { error: 'invalid_json', message: /line 1, column 36/ });
    t.notMatch(answer.text, /hunter2/);
  });

  t.test('400 invalid_json for an empty body', async (t) => {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: '' });
    t.equal(answer.status, 400);
    t.match(answer.json, { error: 'invalid_json', message: /empty/ });
  });

  t.test('400 for prototype-poisoning keys', async (t) => {
    for (const body of ['{"entries": [], "__proto__": {"admin": true}}', '{"entries": [], "constructor": {"prototype": {"admin": true}}}']) {
      const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body });
      t.equal(answer.status, 400, body);
      t.equal(answer.json.error, 'invalid_json', body);
    }
  });

  t.test('408 when the body does not arrive in time, and the server goes on', async (t) => {
    const response = await rawExchange(
      server,
      `POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"entries": [`,
    );
    t.match(response, /^HTTP\/1\.1 408 /);
    t.match(response, /\r\nx-request-id: \S+\r\n/i);
    t.match(jsonOf(response), { error: 'request_timeout', request_id: String });
    t.equal((await send(server, '/healthz')).status, 200);
  });

  t.test('a body shorter than its Content-Length: the client gives up, the server goes on', async (t) => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.end(`POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"entries"`);
    socket.resume();
    await once(socket, 'close');
    t.equal((await send(server, '/healthz')).status, 200);
  });

  t.test('a body longer than its Content-Length: the rest is no request, 400 and close', async (t) => {
    const response = await rawExchange(
      server,
      `POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${batch(1)}`,
    );
    t.match(response, /^HTTP\/1\.1 400 /);
    t.equal((await send(server, '/healthz')).status, 200);
  });
});
