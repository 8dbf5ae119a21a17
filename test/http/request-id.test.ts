import t from 'tap';
import { requestIdFrom } from '../../src/http/request-id.js';
import { compileMaskingPolicy } from '../../src/masking/policy.js';
import { testConfig } from '../support/config.js';
import { APP_TOKEN, batch, send, startServer, type SendOptions } from '../support/http-server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const policy = compileMaskingPolicy(testConfig().masking);

t.test("the client's id when it is sane, else a new UUID", async (t) => {
  t.equal(requestIdFrom('abc-123', policy), 'abc-123');
  t.equal(requestIdFrom('trace:4bf92f35.00f067aa_0ba902b7', policy), 'trace:4bf92f35.00f067aa_0ba902b7');
  t.equal(requestIdFrom('x'.repeat(128), policy), 'x'.repeat(128));
  t.equal(requestIdFrom('550e8400-e29b-41d4-a716-446655440000', policy), '550e8400-e29b-41d4-a716-446655440000');
  for (const insane of [undefined, '', 'x'.repeat(129), 'has space', 'quote"d', 'new\nline', '{"json":1}', ['a', 'b']]) {
    t.match(requestIdFrom(insane, policy), UUID, JSON.stringify(insane));
  }
  t.not(requestIdFrom(undefined, policy), requestIdFrom(undefined, policy), 'a new one each time');
});

// Each passes the sane pattern; each is a secret a service could put in the header by mistake.
const SECRET_IDS = [
  'password:hunter2',
  `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`,
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I6PqX6ZkQ4KJ8E',
  '4111111111111111',
  'AKIAIOSFODNN7EXAMPLE',
];

t.test('an id a masking rule would change is replaced by a new UUID', async (t) => {
  for (const secret of SECRET_IDS) t.match(requestIdFrom(secret, policy), UUID, secret);
});

t.test('a secret sent as X-Request-ID reaches neither the logs nor the response', async (t) => {
  const server = await startServer(t);
  for (const secret of SECRET_IDS) {
    for (const token of [APP_TOKEN, undefined]) {
      const answer = await send(server, '/v1/logs:ingest', { ...(token === undefined ? {} : { token }), body: batch(1), headers: { 'x-request-id': secret } });
      t.equal(answer.status, token === undefined ? 401 : 202);
      t.match(answer.headers['x-request-id'], UUID, `${secret}: a new id is echoed`);
    }
  }
  const logged = server.logText();
  for (const secret of SECRET_IDS) t.notOk(logged.includes(secret), `${secret} is in no log line`);
  t.notOk(logged.includes('hunter2'));
});

t.test('every response carries X-Request-ID, and so does every log line', async (t) => {
  const server = await startServer(t);
  const cases: Array<[string, string, SendOptions]> = [
    ['202', '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) }],
    ['401', '/v1/logs:ingest', { body: batch(1) }],
    ['400', '/v1/logs:ingest', { token: APP_TOKEN, body: '{' }],
    ['415', '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1), headers: { 'content-type': 'text/csv' } }],
    ['404', '/nowhere', {}],
    ['405', '/v1/logs:ingest', { method: 'GET' }],
    ['200', '/healthz', {}],
  ];
  for (const [status, path, options] of cases) {
    const sent = `client-${status}`;
    const echoed = await send(server, path, { ...options, headers: { ...options.headers, 'x-request-id': sent } });
    t.equal(String(echoed.status), status, `${path} ${status}`);
    t.equal(echoed.headers['x-request-id'], sent, `${status}: the client's id comes back`);
    if (echoed.status >= 400) t.equal(echoed.json.request_id, sent, `${status}: and is in the error body`);
    t.ok(
      server.logLines().some((line) => line.request_id === sent && line.msg === 'request completed'),
      `${status}: the request's log line has it`,
    );

    const generated = await send(server, path, { ...options, headers: { ...options.headers, 'x-request-id': 'no spaces allowed' } });
    t.match(generated.headers['x-request-id'], UUID, `${status}: a generated id instead of an insane one`);
  }
  t.notOk(server.logText().includes('no spaces allowed'), 'insane ids never reach the logs');
});
