import t from 'tap';
import { requestIdFrom } from '../../src/http/request-id.js';
import { APP_TOKEN, batch, send, startServer, type SendOptions } from '../support/http-server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test("the client's id when it is sane, else a new UUID", async (t) => {
  t.equal(requestIdFrom('abc-123'), 'abc-123');
  t.equal(requestIdFrom('trace:4bf92f35.00f067aa_0ba902b7'), 'trace:4bf92f35.00f067aa_0ba902b7');
  t.equal(requestIdFrom('x'.repeat(128)), 'x'.repeat(128));
  for (const insane of [undefined, '', 'x'.repeat(129), 'has space', 'quote"d', 'new\nline', '{"json":1}', ['a', 'b']]) {
    t.match(requestIdFrom(insane), UUID, JSON.stringify(insane));
  }
  t.not(requestIdFrom(undefined), requestIdFrom(undefined), 'a new one each time');
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
