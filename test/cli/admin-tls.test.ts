/**
 * The admin commands over HTTPS, with real handshakes: the service of the configuration itself
 * (a preStop hook beside it) is reached on 127.0.0.1 and trusted by the very certificate the
 * configuration serves, whatever names it carries; any other certificate is refused. `--ca`
 * verifies a service by its CA and its name, as any HTTPS client does.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createAdminClient } from '../../src/cli/admin-client.js';
import { AdminFailure } from '../../src/cli/admin-failure.js';
import { resolveAdminTarget } from '../../src/cli/admin-target.js';
import type { Config } from '../../src/config/schema.js';
import { createTestCa, issueServerCertificate, type Issued } from '../support/test-pki.js';

const TOKEN = 'adm_0123456789abcdef0123';

async function adminService(t: Test, served: Issued): Promise<number> {
  const server: Server = createServer({ cert: served.cert, key: served.key }, (request, response) => {
    const ok = request.headers.authorization === `Bearer ${TOKEN}`;
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    response.end(JSON.stringify(ok ? { version: '1', tokens: {} } : { error: 'unauthorized' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** The configuration the hook would load: listening on `port`, serving the certificate in `certFile`. */
function configServing(port: number, certFile: string | undefined): Config {
  return { server: { host: '0.0.0.0', port, tls: { cert_file: certFile } }, security: { admin_token: TOKEN } } as unknown as Config;
}

async function status(options: Parameters<typeof resolveAdminTarget>[0]): Promise<unknown> {
  const client = createAdminClient(resolveAdminTarget(options));
  try {
    return await client.status();
  } catch (err) {
    return err;
  } finally {
    await client.close();
  }
}

const ca = createTestCa();

t.test("the configuration's own service: reached on 127.0.0.1 over HTTPS, trusted by the certificate it serves", async (t) => {
  const dir = t.testdir();
  const served = issueServerCertificate(ca, 'logstack-0.logstack.logging.svc', { altNames: ['DNS:logstack-0.logstack.logging.svc'] });
  const port = await adminService(t, served);
  const certFile = join(dir, 'tls.crt');
  writeFileSync(certFile, served.cert);
  const target = resolveAdminTarget({ env: {}, loadConfig: () => configServing(port, certFile) });
  t.equal(target.url, `https://127.0.0.1:${port}`);
  t.match(await status({ env: {}, loadConfig: () => configServing(port, certFile) }), { version: '1' }, 'a name other than 127.0.0.1 does not matter: the certificate is pinned');

  const other = issueServerCertificate(ca, 'logstack-0.logstack.logging.svc', { altNames: ['DNS:logstack-0.logstack.logging.svc'] });
  writeFileSync(certFile, other.cert);
  const refused = await status({ env: {}, loadConfig: () => configServing(port, certFile) });
  t.ok(refused instanceof AdminFailure, 'another certificate, even from the same CA, is refused');
  t.match(refused, { kind: 'unreachable', message: /^cannot talk to https:\/\/127\.0\.0\.1/ });

  // The CA beside the pinned certificate: the chain checks out, the pin still refuses.
  writeFileSync(certFile, other.cert + ca.cert);
  t.match(await status({ env: {}, loadConfig: () => configServing(port, certFile) }), { kind: 'unreachable', message: /another certificate than the configuration's server\.tls\.cert_file/ });

  writeFileSync(certFile, 'not a certificate');
  t.throws(() => createAdminClient(resolveAdminTarget({ env: {}, loadConfig: () => configServing(port, certFile) })), { kind: 'usage', message: /holds no PEM certificate/ });
});

t.test('--ca verifies the service by its CA and its name; the system CAs do not know a private CA', async (t) => {
  const dir = t.testdir();
  const byName = issueServerCertificate(ca, 'logstack.test', { altNames: ['IP:127.0.0.1'] });
  const port = await adminService(t, byName);
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.cert);
  const url = `https://127.0.0.1:${port}`;
  t.match(await status({ url, caFile, env: { LOGSTACK_ADMIN_TOKEN: TOKEN }, loadConfig: () => t.fail('no configuration is needed') as never }), { version: '1' });
  t.match(await status({ url, env: { LOGSTACK_ADMIN_TOKEN: TOKEN, LOGSTACK_CA_FILE: caFile }, loadConfig: () => t.fail('no configuration is needed') as never }), { version: '1' }, 'or from LOGSTACK_CA_FILE');
  t.match(await status({ url, env: { LOGSTACK_ADMIN_TOKEN: TOKEN }, loadConfig: () => t.fail('no configuration is needed') as never }), { kind: 'unreachable' }, 'without --ca, a private CA is not trusted');

  const wrongName = issueServerCertificate(ca, 'elsewhere.test', { altNames: ['DNS:elsewhere.test'] });
  const otherPort = await adminService(t, wrongName);
  t.match(
    await status({ url: `https://127.0.0.1:${otherPort}`, caFile, env: { LOGSTACK_ADMIN_TOKEN: TOKEN }, loadConfig: () => t.fail('no configuration is needed') as never }),
    { kind: 'unreachable', message: /127\.0\.0\.1/ },
    'a certificate of the right CA for another name is refused',
  );
});
