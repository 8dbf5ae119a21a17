import t from 'tap';
import { authorize, createKeyring } from '../../src/http/auth.js';
import { ADMIN_TOKEN, APP_TOKEN, batch, send, startServer } from '../support/http-server.js';

const INACTIVE_TOKEN = 'tok_old_0123456789abcdef';
const UNKNOWN_TOKEN = 'tok_unknown_0123456789ab';

const security = {
  rate_limit_rps: 1000,
  rate_limit_burst: 2000,
  admin_token: ADMIN_TOKEN,
  api_keys: {
    [APP_TOKEN]: { name: 'app', active: true },
    [INACTIVE_TOKEN]: { name: 'old', active: false },
  },
};

t.test('the keyring names the key of a Bearer token', async (t) => {
  const keyring = createKeyring(security);
  t.same(keyring.identify(`Bearer ${APP_TOKEN}`), { key: { name: 'app', active: true }, admin: false });
  t.same(keyring.identify(`bearer  ${APP_TOKEN}`), { key: { name: 'app', active: true }, admin: false }, 'the scheme is case-insensitive');
  t.same(keyring.identify(`Bearer ${INACTIVE_TOKEN}`), { key: { name: 'old', active: false }, admin: false });
  t.same(keyring.identify(`Bearer ${ADMIN_TOKEN}`), { key: null, admin: true });
  for (const header of [undefined, '', APP_TOKEN, `Basic ${APP_TOKEN}`, `Bearer ${UNKNOWN_TOKEN}`, `Bearer ${APP_TOKEN.slice(0, -1)}`, `Bearer ${APP_TOKEN}x`, `Bearer ${APP_TOKEN} extra`]) {
    t.same(keyring.identify(header), { key: null, admin: false }, String(header));
  }
});

t.test('who may use which endpoint', async (t) => {
  const key = { key: { name: 'app', active: true }, admin: false };
  const inactive = { key: { name: 'old', active: false }, admin: false };
  const admin = { key: null, admin: true };
  const nobody = { key: null, admin: false };
  t.equal(authorize('ingest', key, true), null);
  t.equal(authorize('ingest', inactive, true), 'HTTP_UNAUTHORIZED');
  t.equal(authorize('ingest', nobody, true), 'HTTP_UNAUTHORIZED');
  t.equal(authorize('ingest', admin, true), 'HTTP_UNAUTHORIZED');
  t.equal(authorize('admin', admin, true), null);
  t.equal(authorize('admin', key, true), 'HTTP_FORBIDDEN');
  t.equal(authorize('admin', inactive, true), 'HTTP_UNAUTHORIZED');
  t.equal(authorize('admin', nobody, true), 'HTTP_UNAUTHORIZED');
  t.equal(authorize('admin', key, false), 'HTTP_UNAUTHORIZED', 'no admin token configured: nobody is admin');
});

t.test('over HTTP', async (t) => {
  const server = await startServer(t, { config: { security } });

  for (const [what, token] of [
    ['missing', undefined],
    ['unknown', UNKNOWN_TOKEN],
    ['inactive', INACTIVE_TOKEN],
  ] as const) {
    t.test(`401 with WWW-Authenticate for a ${what} token`, async (t) => {
      const answer = await send(server, '/v1/logs:ingest', { token, body: batch(1) });
      t.equal(answer.status, 401);
      t.equal(answer.headers['www-authenticate'], 'Bearer realm="logstack"');
      t.same(answer.json, {
        error: 'unauthorized',
        message: 'Missing, unknown or inactive API token',
        request_id: answer.headers['x-request-id'],
      });
    });
  }

  t.test('403 for an API key on an admin endpoint', async (t) => {
    const answer = await send(server, '/v1/admin/status', { token: APP_TOKEN });
    t.equal(answer.status, 403);
    t.match(answer.json, { error: 'forbidden', request_id: answer.headers['x-request-id'] });
  });

  t.test('the admin token opens admin endpoints only', async (t) => {
    t.equal((await send(server, '/v1/admin/status', { token: ADMIN_TOKEN })).status, 200);
    t.equal((await send(server, '/v1/logs:ingest', { token: ADMIN_TOKEN, body: batch(1) })).status, 401);
  });

  t.test('refusals are security events: warn, route, client and key name, never the token', async (t) => {
    await send(server, '/v1/logs:ingest', { token: INACTIVE_TOKEN, body: batch(1) });
    await send(server, '/v1/admin/status', { token: APP_TOKEN });
    const events = server.logLines().filter((line) => line.event === 'auth_refused');
    t.match(events, [
      { level: 40, status: 401, route: '/v1/logs:ingest', client: '127.0.0.1', request_id: String },
      { level: 40, status: 401, route: '/v1/logs:ingest', client: '127.0.0.1' },
      { level: 40, status: 401, route: '/v1/logs:ingest', client: '127.0.0.1', token_name: 'old' },
      { level: 40, status: 403, route: '/v1/admin/status', client: '127.0.0.1', token_name: 'app' },
      { level: 40, status: 401, route: '/v1/logs:ingest' },
      { level: 40, status: 401, route: '/v1/logs:ingest', token_name: 'old' },
      { level: 40, status: 403, route: '/v1/admin/status', token_name: 'app' },
    ]);
    const logs = server.logText();
    for (const secret of [APP_TOKEN, INACTIVE_TOKEN, UNKNOWN_TOKEN, ADMIN_TOKEN]) t.notOk(logs.includes(secret), 'no token in the logs');
  });
});

t.test('without an admin token, admin endpoints answer 401 to everyone', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/v1/admin/status', { token: APP_TOKEN });
  t.equal(answer.status, 401);
  t.equal(answer.headers['www-authenticate'], 'Bearer realm="logstack"');
});
