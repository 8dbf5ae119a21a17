import t from 'tap';
import { clientAddress } from '../../src/http/client-address.js';
import { APP_TOKEN, batch, send, startServer } from '../support/http-server.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I6PqX6ZkQ4KJ8E';

t.test('an IP address as it is, anything else as invalid', async (t) => {
  for (const ip of ['203.0.113.7', '::1', '2001:db8::7', '::ffff:10.0.0.1']) t.equal(clientAddress(ip), ip);
  for (const other of [undefined, '', 'unknown', `Bearer ${JWT}`, 'password=hunter2', '203.0.113.7 x', '999.0.0.1', 'a'.repeat(8000)]) {
    t.equal(clientAddress(other), 'invalid', JSON.stringify(other?.slice(0, 40)));
  }
});

t.test('with trust_proxy, an X-Forwarded-For that is not an address never reaches the log', async (t) => {
  const server = await startServer(t, { config: { server: { trust_proxy: true } } });
  const forged = `${JWT} password=hunter2 ${'x'.repeat(8000)}, 10.0.0.1`;
  const refused = await send(server, '/v1/logs:ingest', { body: batch(1), headers: { 'x-forwarded-for': forged } });
  t.equal(refused.status, 401);
  const honest = await send(server, '/v1/logs:ingest', { body: batch(1), headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' } });
  t.equal(honest.status, 401);

  const refusals = server.logLines().filter((line) => line.event === 'auth_refused');
  t.same(
    refusals.map((line) => line.client),
    ['invalid', '203.0.113.7'],
    'the leftmost hop, when it is an address',
  );
  const logged = server.logText();
  t.notOk(logged.includes('hunter2'), 'the password is in no log line');
  t.notOk(logged.includes(JWT), 'nor the JWT');
  t.ok(Math.max(...logged.split('\n').map((line) => line.length)) < 1024, 'no log line carries the 8 kB header');
});

t.test('with trust_proxy, a rate-limited request logs its client the same way', async (t) => {
  const server = await startServer(t, { config: { server: { trust_proxy: true }, security: { rate_limit_rps: 1, rate_limit_burst: 1 } } });
  const headers = { 'x-forwarded-for': 'password=hunter2' };
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1), headers })).status);
  t.ok(statuses.includes(429), `rate limited: ${statuses.join(',')}`);
  const limited = server.logLines().filter((line) => line.event === 'rate_limited');
  t.ok(limited.length > 0);
  for (const line of limited) t.equal(line.client, 'invalid');
  t.notOk(server.logText().includes('hunter2'));
});
