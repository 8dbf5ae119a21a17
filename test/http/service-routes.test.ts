import t from 'tap';
import { send, startServer } from '../support/http-server.js';

t.test('GET / names the service, its version and its endpoints', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/');
  t.equal(answer.status, 200);
  t.match(answer.json, { service: 'logstack', version: '1.2.3-test' });
  t.same(
    answer.json.endpoints.map((e: { method: string; path: string }) => `${e.method} ${e.path}`),
    ['GET /', 'GET /healthz', 'GET /metrics', 'GET /readyz', 'GET /v1/admin/status', 'POST /v1/logs:ingest'],
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
    deps: { readiness: async () => ({ wal: { ok: true, detail: 'open' }, loki: { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:3100' } }) },
  });
  const answer = await send(server, '/readyz');
  t.equal(answer.status, 503);
  t.same(answer.json, { status: 'not_ready', checks: { wal: { ok: true, detail: 'open' }, loki: { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:3100' } } });
});

t.test('/metrics is the Prometheus text exposition', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/metrics');
  t.equal(answer.status, 200);
  t.match(answer.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(answer.text, /^# TYPE http_requests_total counter$/m);
  t.match(answer.text, /^process_cpu_user_seconds_total /m, 'with the default process metrics');
});
