import t from 'tap';
import { ADMIN_TOKEN, APP_TOKEN, batch, send, startServer } from '../support/http-server.js';

const OTHER_TOKEN = 'tok_other_0123456789abcd';
const NOW_MS = Date.parse('2026-01-01T00:00:00Z');

t.test('GET /v1/admin/status: version, uptime and every token by name', async (t) => {
  let now = Date.now();
  const server = await startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN, api_keys: { [APP_TOKEN]: { name: 'app' }, [OTHER_TOKEN]: { name: 'other' } } } },
    deps: { clock: () => now },
  });
  t.equal((await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(3) })).status, 202);
  now += 90_000;

  const answer = await send(server, '/v1/admin/status', { token: ADMIN_TOKEN });
  t.equal(answer.status, 200);
  t.match(answer.json, {
    service: 'logstack',
    version: '1.2.3-test',
    uptime_seconds: 90,
    wal: { state: 'open', disk: { ok: true } },
    tokens: {
      app: { segments: 1, disk_bytes: Number, quota_bytes: 64 * 1024 * 1024, pending_entries: 3, pending_bytes: Number, corrupt_records: 0, failed: null },
      other: { pending_entries: 0, oldest_pending_age_seconds: null },
    },
  });
  t.ok(answer.json.tokens.app.oldest_pending_age_seconds >= 90, 'the age of the oldest pending entry');
  for (const secret of [APP_TOKEN, OTHER_TOKEN, ADMIN_TOKEN]) t.notOk(answer.text.includes(secret), 'no token in the status');
});

t.test('other components add their fields, per token too', async (t) => {
  const server = await startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN } },
    deps: {
      clock: () => NOW_MS,
      adminStatus: async () => ({
        fields: { forwarder: { state: 'running' }, loki: { reachable: false } },
        tokens: { app: { last_push: { status: 204 }, dead_letters: 0 } },
      }),
    },
  });
  const answer = await send(server, '/v1/admin/status', { token: ADMIN_TOKEN });
  t.match(answer.json, {
    forwarder: { state: 'running' },
    loki: { reachable: false },
    tokens: { app: { segments: Number, last_push: { status: 204 }, dead_letters: 0 } },
  });
});

t.test('flush: timeout_seconds must be finite and at most 300; Infinity and 1e400 are refused, not waited on forever', async (t) => {
  const asked: number[] = [];
  const server = await startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN } },
    deps: {
      operations: {
        flush: async ({ timeoutMs }) => {
          asked.push(timeoutMs);
          return { complete: true, tokens: {} };
        },
        deadLetters: async () => ({}),
        replayDeadLetters: async () => ({}),
      },
    },
  });
  for (const value of ['Infinity', '1e400', '300.5', '0', '-1']) {
    const answer = await send(server, `/v1/admin/flush?wait=true&timeout_seconds=${value}`, { method: 'POST', token: ADMIN_TOKEN });
    t.equal(answer.status, 400, value);
    t.equal(answer.json.error, 'bad_request', value);
  }
  t.equal((await send(server, '/v1/admin/flush?wait=true&timeout_seconds=300', { method: 'POST', token: ADMIN_TOKEN })).status, 200);
  t.equal((await send(server, '/v1/admin/flush?wait=true', { method: 'POST', token: ADMIN_TOKEN })).status, 200);
  t.same(asked, [300_000, 30_000], 'only the valid waits reached the forwarder');
});

t.test('flush: a client that goes away ends the wait', async (t) => {
  let signal: AbortSignal | undefined;
  const server = await startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN } },
    deps: {
      operations: {
        flush: async (opts) => {
          signal = opts.signal;
          await new Promise((resolve) => opts.signal?.addEventListener('abort', resolve));
          return { complete: false, tokens: {} };
        },
        deadLetters: async () => ({}),
        replayDeadLetters: async () => ({}),
      },
    },
  });
  const controller = new AbortController();
  const answer = fetch(`${server.url}/v1/admin/flush?wait=true&timeout_seconds=300`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: controller.signal }).catch(() => 'aborted');
  while (signal === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(signal.aborted, false, 'waiting while the client waits');
  controller.abort();
  t.equal(await answer, 'aborted');
  const startedAt = Date.now();
  while (!signal.aborted && Date.now() - startedAt < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(signal.aborted, 'the wait was told the client left');
});
