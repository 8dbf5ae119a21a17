import { X509Certificate } from 'node:crypto';
import { request as httpsRequest, Agent } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import t, { type Test } from 'tap';
import { isLogstackError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { TlsListener } from '../../src/tls/tls-listener.js';
import { testConfig } from '../support/config.js';
import { batch, startServer, type TestServer } from '../support/http-server.js';
import { createLokiStandIn } from '../support/loki-stand-in.js';
import { createSecretVolume, type SecretVolume } from '../support/secret-volume.js';
import { createTestCa, issueServerCertificate, type Issued } from '../support/test-pki.js';

const DAY_MS = 86_400_000;
const ca = createTestCa();
const serverCert = issueServerCertificate(ca);
const goodClient = ca.issue({ commonName: 'payments-api', usage: 'client' });
const foreignClient = createTestCa('another CA').issue({ commonName: 'payments-api', usage: 'client' });
const expiredClient = ca.issue({ commonName: 'payments-api', usage: 'client', notBefore: new Date(Date.now() - 3 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) });
const billingClient = ca.issue({ commonName: 'billing', usage: 'client', altNames: ['URI:spiffe://example.org/billing'] });

const PAYMENTS = 'tok_payments_0123456789abcdef';
const BILLING = 'tok_billing_0123456789abcdefg';
const OPEN = 'tok_open_0123456789abcdefghij';

interface Tls {
  readonly server: TestServer;
  readonly volume: SecretVolume;
  readonly port: number;
  readonly logs: string[];
}

interface TlsSetup {
  readonly clientAuth?: 'none' | 'request' | 'require';
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly apiKeys?: Record<string, unknown>;
  /** Serve with TLS 1.2 renegotiation allowed, as Node does by default. */
  readonly renegotiation?: boolean;
}

/** The HTTP edge over HTTPS, its files in a directory updated like a Kubernetes Secret volume. */
async function tlsServer(t: Test, setup: TlsSetup = {}): Promise<Tls> {
  const volume = await createSecretVolume(join(t.testdir(), 'tls'), { 'tls.crt': serverCert.cert, 'tls.key': serverCert.key, 'ca.crt': ca.cert });
  const clientAuth = setup.clientAuth ?? 'none';
  const config = testConfig({
    server: {
      tls: {
        cert_file: volume.path('tls.crt'),
        key_file: volume.path('tls.key'),
        client_auth: clientAuth,
        ...(clientAuth === 'none' ? {} : { client_ca_file: volume.path('ca.crt') }),
        ...(setup.minVersion ? { min_version: setup.minVersion } : {}),
      },
    },
    security: { api_keys: setup.apiKeys ?? { [OPEN]: { name: 'open' } } },
  });
  const logs: string[] = [];
  const listener = new TlsListener({
    tls: config.server.tls,
    logger: createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }),
    pollIntervalMs: 50,
  });
  const https = setup.renegotiation ? { ...listener.serverOptions, secureOptions: (listener.serverOptions.secureOptions ?? 0) & ~cryptoConstants.SSL_OP_NO_RENEGOTIATION } : listener.serverOptions;
  const server = await startServer(t, { config: { server: config.server, security: config.security }, deps: { https } });
  listener.attach(server.app.server as unknown as TlsServer);
  t.teardown(() => listener.close());
  return { server, volume, port: Number(new URL(server.url).port), logs };
}

interface Got {
  readonly status: number;
  readonly json: any;
  /** Of the certificate the server presented. */
  readonly fingerprint: string;
  readonly socket: TLSSocket;
}

interface ClientOptions {
  /** Client certificate and key. */
  identity?: Issued;
  /** Verify the server against the test CA; false is what the kubelet's HTTPS probes do. */
  verify?: boolean;
  agent?: Agent;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  token?: string;
  body?: string;
}

function get(port: number, path: string, o: ClientOptions = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.body === undefined ? 'GET' : 'POST',
        servername: 'localhost',
        ca: ca.cert,
        rejectUnauthorized: o.verify ?? true,
        agent: o.agent ?? false,
        ...(o.identity ? { cert: o.identity.cert, key: o.identity.key } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
        headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        // Read now: a kept-alive socket goes back to its agent once the response ends.
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text || 'null'), fingerprint, socket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** The error of a request that must fail, or a failure of the test when it succeeds. */
async function refused(t: Test, attempt: Promise<Got>, what: string): Promise<void> {
  try {
    const got = await attempt;
    t.fail(`${what}: answered ${got.status}, but the connection should have been refused`);
  } catch (err) {
    t.pass(`${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function requestsCounted(server: TestServer): Promise<number> {
  const metric = await server.metrics.httpRequests.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

t.test('HTTPS: a client that trusts the CA ingests; a probe that verifies nothing and presents no certificate gets /healthz and /readyz', async (t) => {
  const { port } = await tlsServer(t, {});
  const ingest = await get(port, '/v1/logs:ingest', { token: OPEN, body: batch(2) });
  t.equal(ingest.status, 202);
  t.equal(ingest.fingerprint, serverCert.fingerprint, 'the configured certificate is served');
  t.equal((await get(port, '/healthz', { verify: false })).status, 200);
  t.equal((await get(port, '/readyz', { verify: false })).status, 200);
});

t.test('client_auth require: only a certificate the client CA signed gets through the handshake, and nothing else reaches auth', async (t) => {
  const { server, port } = await tlsServer(t, { clientAuth: 'require' });
  t.equal((await get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: goodClient })).status, 202);
  const before = await requestsCounted(server);
  await refused(t, get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1) }), 'no client certificate');
  await refused(t, get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: foreignClient }), "another CA's certificate");
  await refused(t, get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: expiredClient }), 'an expired certificate');
  await refused(t, get(port, '/healthz', { verify: false }), 'a probe without a certificate');
  t.equal(await requestsCounted(server), before, 'none of them became a request');
  t.notMatch(server.logText(), /auth_refused/, 'none reached authentication');
});

t.test('client_auth request: a client without a certificate is served; one whose certificate the CA did not sign, or that expired, is disconnected', async (t) => {
  const { server, port, logs } = await tlsServer(t, { clientAuth: 'request' });
  t.equal((await get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1) })).status, 202, 'no certificate');
  t.equal((await get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: goodClient })).status, 202, 'a good certificate');
  t.equal((await get(port, '/healthz', { verify: false })).status, 200, 'a probe');
  const before = await requestsCounted(server);
  await refused(t, get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: foreignClient }), "another CA's certificate");
  await refused(t, get(port, '/v1/logs:ingest', { token: OPEN, body: batch(1), identity: expiredClient }), 'an expired certificate');
  t.equal(await requestsCounted(server), before, 'neither became a request');
  const refusals = logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'tls_client_refused');
  t.same(refusals.map((l) => l.reason), ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED'], 'each is logged with the reason');
});

t.test("client_subject: a key's token is accepted only over a connection with a verified certificate of that name", async (t) => {
  const { server, port } = await tlsServer(t, {
    clientAuth: 'request',
    apiKeys: {
      [PAYMENTS]: { name: 'payments', client_subject: 'payments-api' },
      [BILLING]: { name: 'billing', client_subject: 'spiffe://example.org/billing' },
      [OPEN]: { name: 'open' },
    },
  });
  const ingest = (token: string, identity?: Issued) => get(port, '/v1/logs:ingest', { token, body: batch(1), ...(identity ? { identity } : {}) });
  t.equal((await ingest(PAYMENTS, goodClient)).status, 202, 'its certificate, by Common Name');
  t.equal((await ingest(BILLING, billingClient)).status, 202, 'its certificate, by URI alternative name');
  t.equal((await ingest(OPEN)).status, 202, 'a key without client_subject needs no certificate');

  const stolen = await ingest(PAYMENTS);
  t.equal(stolen.status, 401, 'the token without a certificate');
  t.equal(stolen.json.error, 'unauthorized');
  t.equal(stolen.json.message, (await ingest('tok_unknown_0123456789abcdef')).json.message, 'answered like an unknown token');
  t.equal((await ingest(PAYMENTS, billingClient)).status, 401, "another client's certificate");
  t.equal((await ingest(BILLING, goodClient)).status, 401, "and the other way round");

  const refusals = server.logLines().filter((l) => l['event'] === 'auth_refused' && l['token_name'] === 'payments');
  t.equal(refusals.length, 2);
  t.match(refusals[0]!['msg'], /client certificate/, "the log says why, by the key's name");
});

/**
 * Over TLS 1.2: a handshake, then a renegotiation, then an ingest with `token`. What came of it:
 * the answer's status line, or what ended the connection. (Node's client presents the same
 * certificate again; an attacker's OpenSSL client can present another.)
 */
function renegotiated(port: number, identity: Issued, token: string): Promise<string> {
  return new Promise((resolve) => {
    const body = batch(1);
    const request = `POST /v1/logs:ingest HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    let received = '';
    let outcome = '';
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, maxVersion: 'TLSv1.2', cert: identity.cert, key: identity.key }, () => {
      const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => {
        if (err !== null) outcome = `renegotiation failed: ${err.message}`;
        socket.write(request);
      });
      if (!started) socket.write(request);
    });
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    socket.on('error', (err) => (outcome ||= `connection error: ${err.message}`));
    socket.on('close', () => resolve(received.split('\r\n', 1)[0] || outcome || 'closed'));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

t.test('client_subject: the listener refuses TLS 1.2 renegotiation, by which a client could present a second certificate after the verified one', async (t) => {
  const apiKeys = { [PAYMENTS]: { name: 'payments', client_subject: 'payments-api' } };
  const { server, port, volume } = await tlsServer(t, { clientAuth: 'request', apiKeys });
  t.equal((await get(port, '/v1/logs:ingest', { token: PAYMENTS, body: batch(1), identity: goodClient, maxVersion: 'TLSv1.2' })).status, 202, 'TLS 1.2 without renegotiating');
  const outcome = await renegotiated(port, goodClient, PAYMENTS);
  t.notMatch(outcome, /^HTTP\//, `renegotiating: ${outcome}`);
  const connections = () => new Promise<number>((resolve, reject) => server.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  await until('the refused connection is closed', async () => (await connections()) === 0);

  // Still so with files renewed: the new secure context refuses it too.
  const renewed = issueServerCertificate(ca);
  await volume.update({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'ca.crt': ca.cert });
  await until('the renewed certificate is served', async () => (await get(port, '/healthz')).fingerprint === renewed.fingerprint);
  t.notMatch(await renegotiated(port, goodClient, PAYMENTS), /^HTTP\//, 'renegotiating after a reload');
  await until('that connection is closed too', async () => (await connections()) === 0);

  // Were it allowed, the certificate verified as the connection was established still names the client.
  const lenient = await tlsServer(t, { clientAuth: 'request', apiKeys, renegotiation: true });
  t.match(await renegotiated(lenient.port, goodClient, PAYMENTS), /^HTTP\/1\.1 202/, 'renegotiation allowed: the same certificate');
});

t.test('min_version TLSv1.3 turns a TLS 1.2 client away', async (t) => {
  const { port } = await tlsServer(t, { minVersion: 'TLSv1.3' });
  t.equal((await get(port, '/healthz')).socket.getProtocol(), 'TLSv1.3');
  await refused(t, get(port, '/healthz', { maxVersion: 'TLSv1.2' }), 'a TLS 1.2 client');
});

t.test('a renewed certificate is served to new connections while a connection open since before keeps its own; files that do not fit together are not taken', async (t) => {
  const { port, volume, logs } = await tlsServer(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await get(port, '/healthz', { agent });
  t.equal(first.fingerprint, serverCert.fingerprint);

  const renewed = issueServerCertificate(ca);
  await volume.update({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'ca.crt': ca.cert });
  await until('a new connection gets the renewed certificate', async () => (await get(port, '/healthz')).fingerprint === renewed.fingerprint);

  const again = await get(port, '/v1/logs:ingest', { agent, token: OPEN, body: batch(1) });
  t.equal(again.socket, first.socket, 'the kept-alive connection was not cut');
  t.equal(again.status, 202, 'and still serves requests');
  t.equal(again.fingerprint, serverCert.fingerprint, 'under the certificate of its handshake');

  // cert-manager writes the certificate, then the key: between the two they do not match.
  const next = issueServerCertificate(ca);
  await volume.update({ 'tls.crt': next.cert, 'tls.key': renewed.key, 'ca.crt': ca.cert });
  await until('the mismatch is noticed', () => logs.some((l) => l.includes('new TLS files not taken')));
  t.match(logs.find((l) => l.includes('new TLS files not taken')), /server\.tls\.key_file/, 'the log names the file at fault');
  t.equal((await get(port, '/healthz')).fingerprint, renewed.fingerprint, 'the listener keeps the certificate it had');
  await volume.update({ 'tls.crt': next.cert, 'tls.key': next.key, 'ca.crt': ca.cert });
  await until('the pair is complete and taken', async () => (await get(port, '/healthz')).fingerprint === next.fingerprint);
});

t.test('unusable files stop the start with the key at fault, never their content', async (t) => {
  const other = issueServerCertificate(ca);
  const dir = t.testdir({ 'tls.crt': serverCert.cert, 'tls.key': serverCert.key, 'other.key': other.key, 'garbage.pem': 'not a certificate\n' });
  const attempt = (tls: Record<string, unknown>) => {
    try {
      new TlsListener({ tls: testConfig({ server: { tls } }).server.tls, logger: createLogger({ level: 'silent' }) });
    } catch (err) {
      if (isLogstackError(err, 'CONFIG_INVALID')) return err.message;
      throw err;
    }
    return 'started';
  };
  const files = { cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') };
  t.match(attempt({ ...files, cert_file: join(dir, 'missing.crt') }), /server\.tls\.cert_file: cannot read .*missing\.crt: no such file/);
  t.match(attempt({ ...files, key_file: join(dir, 'other.key') }), /server\.tls\.key_file: .*is not the key of the certificate/);
  t.match(attempt({ ...files, cert_file: join(dir, 'garbage.pem') }), /server\.tls\.cert_file: .*holds no PEM certificate/);
  t.match(attempt({ ...files, key_file: join(dir, 'garbage.pem') }), /server\.tls\.key_file: .*holds no unencrypted PEM private key/);
  t.match(attempt({ ...files, client_auth: 'require', client_ca_file: join(dir, 'garbage.pem') }), /server\.tls\.client_ca_file/);
  t.notMatch(attempt({ ...files, key_file: join(dir, 'other.key') }), /PRIVATE KEY/);
  t.equal(attempt(files), 'started');
});

t.test('the service serves HTTPS: an entry sent over TLS reaches Loki; the metrics say which certificate is served and whether its files were taken', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-tls-'));
  const volume = await createSecretVolume(join(root, 'tls'), { 'tls.crt': serverCert.cert, 'tls.key': serverCert.key });
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, tls: { cert_file: volume.path('tls.crt'), key_file: volume.path('tls.key') } },
    security: { api_keys: { [OPEN]: { name: 'open' } } },
    wal: { wal_root_path: join(root, 'wal'), lock_stale_seconds: 2 },
    loki: { base_url: loki.url, batch_max_wait_ms: 10 },
  });
  const service = new LogstackService({ config, logger: createLogger({ level: 'silent' }), version: 'test', filePollIntervalMs: 50 });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    await rm(root, { recursive: true, force: true });
  });
  t.match(url, /^https:\/\//);
  const port = Number(new URL(url).port);
  t.equal((await get(port, '/v1/logs:ingest', { token: OPEN, body: batch(3) })).status, 202);
  await loki.waitFor(3);
  t.pass('delivered');

  const gauge = async (name: string) => (await service.metrics.registry.getSingleMetric(name)!.get()).values[0]!.value;
  const notAfter = (pem: string) => new X509Certificate(pem).validToDate.getTime() / 1000;
  t.equal(await gauge('logstack_tls_last_reload_successful'), 1);
  t.equal(await gauge('logstack_tls_certificate_expiry_timestamp_seconds'), notAfter(serverCert.cert));
  const renewed = issueServerCertificate(ca, 'localhost', { notAfter: new Date(Date.now() + 30 * DAY_MS) });
  await volume.update({ 'tls.crt': renewed.cert, 'tls.key': serverCert.key });
  await until('the mismatched pair is refused', async () => (await gauge('logstack_tls_last_reload_successful')) === 0);
  t.equal(await gauge('logstack_tls_certificate_expiry_timestamp_seconds'), notAfter(serverCert.cert), 'the served certificate is still the old one');
  await volume.update({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'ca.crt': ca.cert });
  await until('the pair is taken', async () => (await gauge('logstack_tls_last_reload_successful')) === 1);
  t.equal(await gauge('logstack_tls_certificate_expiry_timestamp_seconds'), notAfter(renewed.cert));
});
