import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import { clientErrorFor } from '../../src/http/client-error.js';
import { APP_TOKEN, send, startServer, type TestServer } from '../support/http-server.js';

/** Writes `request` on a raw socket; resolves with the status, headers and JSON body answered before the server closes. */
async function rawAnswer(server: TestServer, request: string): Promise<{ status: number; headers: string; json: any }> {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  await once(socket, 'close');
  const raw = Buffer.concat(chunks).toString('utf8');
  const end = raw.indexOf('\r\n\r\n');
  return { status: Number(raw.split(' ', 2)[1]), headers: raw.slice(0, end), json: JSON.parse(raw.slice(end + 4)) };
}

t.test('parser errors map onto the catalogue without quoting the request', async (t) => {
  t.match(clientErrorFor(Object.assign(new Error('Parse Error: Invalid method'), { code: 'HPE_INVALID_METHOD' })), { apiError: 'bad_request', status: 400, message: /HPE_INVALID_METHOD/ });
  t.match(clientErrorFor(Object.assign(new Error('Header overflow'), { code: 'HPE_HEADER_OVERFLOW' })), { apiError: 'headers_too_large', status: 431 });
  t.match(clientErrorFor(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })), { apiError: 'request_timeout', status: 408 });
});

t.test('requests the HTTP parser refuses get our error body and a request id', async (t) => {
  const server = await startServer(t);
  const cases: Record<string, [request: string, status: number]> = {
    'a request line that is not HTTP': ['NOT HTTP AT ALL\r\n\r\n', 400],
    'a header without a colon': ['GET /healthz HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n', 400],
    'headers over the size limit': [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
    'bytes after a body shorter than its Content-Length': [
      `POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}garbage that is no request\r\n\r\n`,
      400,
    ],
  };
  for (const [what, [request, status]] of Object.entries(cases)) {
    const answer = await rawAnswer(server, request);
    t.equal(answer.status, status, what);
    const requestId = /\r\nx-request-id: (\S+)/i.exec(answer.headers)?.[1];
    t.ok(requestId, `${what}: X-Request-ID`);
    t.match(answer.json, { error: String, message: String, request_id: requestId }, what);
    t.notMatch(JSON.stringify(answer.json), /garbage|broken|aaaa/, `${what}: the request is not echoed`);
    t.equal((await send(server, '/healthz')).status, 200, `${what}: the server goes on`);
  }
});
