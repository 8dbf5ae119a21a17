import t from 'tap';
import { bucketShape, createRateLimits, retryAfterSeconds } from '../../src/http/rate-limit.js';
import { APP_TOKEN, batch, send, startServer } from '../support/http-server.js';

const OTHER_TOKEN = 'tok_other_0123456789abcd';

t.test('the bucket of burst B refilled at R per second, as two windows', async (t) => {
  t.same(bucketShape(1000, 2000), { sustained: { points: 1000, duration: 1 }, burst: { points: 1000, duration: 2 } });
  t.same(bucketShape(2.5, 10), { sustained: { points: 2, duration: 0.8 }, burst: { points: 8, duration: 4 } }, 'fractional rates keep their average');
  t.same(bucketShape(0.5, 1), { sustained: { points: 1, duration: 2 }, burst: null }, 'under 1 per second: one request per 1/R seconds');
  t.same(bucketShape(100, 50), { sustained: { points: 100, duration: 1 }, burst: null }, 'a burst under the rate adds nothing');
});

t.test('Retry-After is whole seconds, at least 1', async (t) => {
  t.equal(retryAfterSeconds(0), 1);
  t.equal(retryAfterSeconds(1), 1);
  t.equal(retryAfterSeconds(1000), 1);
  t.equal(retryAfterSeconds(1001), 2);
});

t.test('a bucket passes the burst at once, then refuses with the wait', async (t) => {
  const limits = createRateLimits({ rate_limit_rps: 0.01, rate_limit_burst: 3, api_keys: {} });
  t.same([await limits.take('a'), await limits.take('a'), await limits.take('a')], [null, null, null]);
  const wait = await limits.take('a');
  t.ok(wait !== null && wait > 1 && wait <= 300, `then wait ${wait} s`);
  t.equal(await limits.take('b'), null, 'each name has its own bucket');
});

t.test('over HTTP: 429 rate_limit_exceeded per key name, with Retry-After', async (t) => {
  const server = await startServer(t, {
    config: {
      security: {
        rate_limit_rps: 0.01,
        rate_limit_burst: 2,
        api_keys: { [APP_TOKEN]: { name: 'app' }, [OTHER_TOKEN]: { name: 'other', rate_limit_burst: 5 } },
      },
    },
  });
  const ingest = (token: string) => send(server, '/v1/logs:ingest', { token, body: batch(1) });

  t.same([(await ingest(APP_TOKEN)).status, (await ingest(APP_TOKEN)).status], [202, 202]);
  const refused = await ingest(APP_TOKEN);
  t.equal(refused.status, 429);
  t.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${refused.headers['retry-after']}`);
  t.match(refused.json, { error: 'rate_limit_exceeded', message: /app/, request_id: refused.headers['x-request-id'] });

  const others = await Promise.all(Array.from({ length: 5 }, () => ingest(OTHER_TOKEN)));
  t.same(
    others.map((a) => a.status),
    [202, 202, 202, 202, 202],
    'the other key has its own, larger bucket',
  );

  const exposition = (await send(server, '/metrics')).text;
  t.match(exposition, /^rate_limit_exceeded_total\{token="app"\} 1$/m);
  t.match(exposition, /^logs_rejected_total\{token="app",reason="rate_limit_exceeded"\} 1$/m);
  t.match(server.logLines().find((line) => line.event === 'rate_limited'), { level: 40, status: 429, route: '/v1/logs:ingest', client: '127.0.0.1', token_name: 'app' });
  t.notOk(server.logText().includes(APP_TOKEN));
});
