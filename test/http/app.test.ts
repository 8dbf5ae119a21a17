import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { ADMIN_TOKEN, APP_TOKEN, batch, send, startServer, type TestServer } from '../support/http-server.js';

const INACTIVE_TOKEN = 'tok_old_0123456789abcdef';
const STRANGER_TOKEN = 'tok_stranger_0123456789a';

async function inFlight(server: TestServer): Promise<number> {
  return (await server.metrics.httpRequestsInFlight.get()).values[0]?.value ?? 0;
}

t.test('while closing, requests in flight finish and new ones get 503 shutting_down', async (t) => {
  const server = await startServer(t);
  const body = batch(2);
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));

  // Half of a first request, so that its connection is busy when the close begins.
  const head = `POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  socket.write(head + body.slice(0, 10));
  while ((await inFlight(server)) === 0) await sleep(5);
  const closed = server.app.close();
  socket.write(`${body.slice(10)}GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: late-1\r\n\r\n`);
  await once(socket, 'close');
  await closed;

  const responses = Buffer.concat(received).toString('utf8').split(/(?=HTTP\/1\.1 )/);
  t.equal(responses.length, 2);
  t.match(responses[0], /^HTTP\/1\.1 202 /, 'the request in flight is answered');
  t.match(responses[1], /^HTTP\/1\.1 503 /);
  t.match(responses[1], /\r\nretry-after: \d+\r\n/i);
  t.match(responses[1], /\r\nconnection: close\r\n/i);
  t.match(JSON.parse(responses[1]!.slice(responses[1]!.indexOf('\r\n\r\n') + 4)), { error: 'shutting_down', request_id: 'late-1' });
});

t.test('no log line ever holds a token; every request line has its request id', async (t) => {
  const server = await startServer(t, {
    config: {
      security: {
        admin_token: ADMIN_TOKEN,
        rate_limit_rps: 0.01,
        rate_limit_burst: 2,
        api_keys: { [APP_TOKEN]: { name: 'app' }, [INACTIVE_TOKEN]: { name: 'old', active: false } },
      },
    },
  });
  await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) });
  await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: gzipSync(batch(1)), headers: { 'content-encoding': 'gzip' } });
  await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) });
  await send(server, '/v1/logs:ingest', { token: INACTIVE_TOKEN, body: batch(1) });
  await send(server, '/v1/logs:ingest', { token: STRANGER_TOKEN, body: batch(1) });
  await send(server, '/v1/logs:ingest', { headers: { authorization: `Basic ${Buffer.from(`u:${STRANGER_TOKEN}`).toString('base64')}` }, body: batch(1) });
  await send(server, '/v1/admin/status', { token: APP_TOKEN });
  await send(server, '/v1/admin/status', { token: ADMIN_TOKEN });
  await send(server, `/nowhere?token=${STRANGER_TOKEN}`, { token: STRANGER_TOKEN });
  await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: `{"entries": [{"message": "${STRANGER_TOKEN}"` });

  const text = server.logText();
  for (const secret of [APP_TOKEN, INACTIVE_TOKEN, STRANGER_TOKEN, ADMIN_TOKEN]) t.notOk(text.includes(secret), 'no token in any log line');
  const requestLines = server.logLines().filter((line) => line.msg === 'request completed');
  t.equal(requestLines.length, 10);
  t.ok(
    requestLines.every((line) => typeof line.request_id === 'string' && typeof line.route === 'string' && typeof line.status === 'number'),
    'each with request id, route and status',
  );
  t.match(requestLines[0], { method: 'POST', route: '/v1/logs:ingest', status: 202, duration_ms: Number, token_name: 'app', service: 'logstack' });
  t.match(requestLines[2], { status: 429, token_name: 'app', error: 'rate_limit_exceeded' });
  t.match(requestLines[8], { route: 'unmatched', status: 404 });
});

t.test('metrics are labelled by route template and key name, never by URL or token', async (t) => {
  const server = await startServer(t);
  await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(2) });
  await send(server, '/v1/logs:ingest', { token: STRANGER_TOKEN, body: batch(1) });
  await send(server, `/v1/${STRANGER_TOKEN}`);
  const exposition = (await send(server, '/metrics')).text;
  t.match(exposition, /^http_requests_total\{method="POST",route="\/v1\/logs:ingest",status="202"\} 1$/m);
  t.match(exposition, /^http_request_duration_seconds_count\{method="POST",route="\/v1\/logs:ingest",status="202"\} 1$/m);
  t.match(exposition, /^http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m);
  t.match(exposition, /^logs_ingested_total\{token="app"\} 2$/m);
  t.match(exposition, /^logs_rejected_total\{token="\(none\)",reason="unauthorized"\} 1$/m);
  t.match(exposition, /^wal_pending_entries\{token="app"\} 2$/m);
  t.match(exposition, /^http_requests_in_flight 1$/m, 'the scrape itself');
  t.notOk(exposition.includes(STRANGER_TOKEN) || exposition.includes(APP_TOKEN), 'no token, no raw URL');
});
