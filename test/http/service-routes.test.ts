import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { APP_TOKEN, batch, send, startServer } from '../support/http-server.js';

t.test('GET / names the service, its version and its endpoints', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/');
  t.equal(answer.status, 200);
  t.match(answer.json, { service: 'logstack', version: '1.2.3-test' });
  t.same(
    answer.json.endpoints.map((e: { method: string; path: string }) => `${e.method} ${e.path}`),
    [
      'GET /',
      'POST /api/prom/push',
      'GET /healthz',
      'POST /loki/api/v1/push',
      'GET /metrics',
      'GET /openapi.json',
      'GET /readyz',
      'GET /v1/admin/status',
      'POST /v1/logs',
      'POST /v1/logs:ingest',
    ],
  );
});

t.test('/healthz answers 200 while the process runs, whatever the WAL', async (t) => {
  const server = await startServer(t);
  t.same((await send(server, '/healthz')).json, { status: 'ok' });
  await server.wal.close();
  const answer = await send(server, '/healthz');
  t.equal(answer.status, 200);
  t.same(answer.json, { status: 'ok' });
});

t.test('/readyz: ready while the WAL is open and the disk above its reserve', async (t) => {
  const server = await startServer(t);
  const ready = await send(server, '/readyz');
  t.equal(ready.status, 200);
  t.match(ready.json, { status: 'ready', checks: { wal: { ok: true, detail: 'open' }, disk: { ok: true, detail: /free/ } } });

  await server.wal.close();
  const closed = await send(server, '/readyz');
  t.equal(closed.status, 503);
  t.match(closed.json, { status: 'not_ready', checks: { wal: { ok: false, detail: 'the WAL is closed' } } });
});

t.test('/readyz: not ready below the disk reserve', async (t) => {
  const server = await startServer(t, { diskReservePercent: 100 });
  const answer = await send(server, '/readyz');
  t.equal(answer.status, 503);
  t.match(answer.json, { status: 'not_ready', checks: { wal: { ok: true }, disk: { ok: false, detail: /reserve 100%/ } } });
});

t.test('/readyz lists the checks given to it', async (t) => {
  const server = await startServer(t, {
    deps: { readiness: { wal: () => ({ ok: true, detail: 'open' }), loki: async () => ({ ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:3100' }) } },
  });
  const answer = await send(server, '/readyz');
  t.equal(answer.status, 503);
  t.same(answer.json, {
    status: 'not_ready',
    checks: { wal: { ok: true, detail: 'open' }, loki: { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:3100' } },
    excluded: [],
  });
});

t.test('/readyz?exclude=<check> is ready without that check, which is not even run', async (t) => {
  let lokiChecks = 0;
  const server = await startServer(t, {
    deps: {
      readiness: {
        wal: () => ({ ok: true, detail: 'open' }),
        loki: () => {
          lokiChecks++;
          return { ok: false, detail: 'unreachable' };
        },
        forwarder: () => ({ ok: false, detail: 'no push answered for 90 s while there is work' }),
      },
    },
  });
  t.equal((await send(server, '/readyz?exclude=loki')).status, 503, 'the other failing check still counts');
  const answer = await send(server, '/readyz?exclude=loki&exclude=forwarder&exclude=loki');
  t.equal(answer.status, 200);
  t.same(answer.json, { status: 'ready', checks: { wal: { ok: true, detail: 'open' } }, excluded: ['loki', 'forwarder'] });
  t.equal(lokiChecks, 0, 'an excluded check is never waited on');
  t.equal((await send(server, '/readyz')).status, 503);
  t.equal(lokiChecks, 1);
});

t.test('/readyz?exclude= of a check that does not exist is refused with the names that do', async (t) => {
  const server = await startServer(t);
  for (const query of ['exclude=etcd', 'exclude=disk&exclude=loki', 'exclude=']) {
    const answer = await send(server, `/readyz?${query}`);
    t.equal(answer.status, 400, query);
    t.match(answer.json, { error: 'bad_request', message: /exclude/, details: [{ params: { allowedValues: ['wal', 'disk'] } }] });
  }
});

t.test('/readyz answers 503 shutting_down, not the checks, once the server is closing', async (t) => {
  const server = await startServer(t);
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  // A request in flight keeps the connection open through the close, so a probe can follow it.
  const body = batch(1);
  socket.write(`POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
  while (((await server.metrics.httpRequestsInFlight.get()).values[0]?.value ?? 0) === 0) await sleep(5);
  const closed = server.app.close();
  socket.write(`${body}GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n`);
  await once(socket, 'close');
  await closed;

  const probe = Buffer.concat(received).toString('utf8').split(/(?=HTTP\/1\.1 )/)[1] ?? '';
  t.match(probe, /^HTTP\/1\.1 503 /);
  t.match(JSON.parse(probe.slice(probe.indexOf('\r\n\r\n') + 4)), { error: 'shutting_down', request_id: String });
});

t.test('/metrics is the Prometheus text exposition', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/metrics');
  t.equal(answer.status, 200);
  t.match(answer.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(answer.text, /^# TYPE http_requests_total counter$/m);
  t.match(answer.text, /^process_cpu_user_seconds_total /m, 'with the default process metrics');
});
