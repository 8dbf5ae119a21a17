import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import t from 'tap';
import { certificateNames, parseAltNames, recordVerifiedClient, verifiedClientNames } from '../../src/tls/client-identity.js';
import { createTestCa } from '../support/test-pki.js';

t.test("alternative names are read as Node writes them, quoted values included", async (t) => {
  t.same(parseAltNames('DNS:a.example, URI:spiffe://example.org/ns/a, email:ops@example.org, IP Address:127.0.0.1'), [
    ['DNS', 'a.example'],
    ['URI', 'spiffe://example.org/ns/a'],
    ['email', 'ops@example.org'],
    ['IP Address', '127.0.0.1'],
  ]);
  // Node quotes a value that holds a comma, so that "DNS:a, DNS:b" cannot be forged inside one name.
  t.same(parseAltNames('DNS:"evil.example, DNS:payments-api", DNS:b.example'), [
    ['DNS', 'evil.example, DNS:payments-api'],
    ['DNS', 'b.example'],
  ]);
  t.same(parseAltNames(''), []);
});

t.test('the names of a certificate: its Common Names and its DNS, URI and email alternative names, not its IP addresses', async (t) => {
  t.same(certificateNames({ subject: { CN: 'payments-api' }, subjectaltname: 'DNS:pay.example, IP Address:10.0.0.1, URI:spiffe://x/pay' }), ['payments-api', 'pay.example', 'spiffe://x/pay']);
  t.same(certificateNames({ subject: { CN: ['a', 'b'] } }), ['a', 'b']);
  t.same(certificateNames({}), []);
});

t.test("a real certificate's names, as a TLS socket reports them", async (t) => {
  const cert = new X509Certificate(createTestCa().issue({ commonName: 'billing', altNames: ['URI:spiffe://example.org/billing', 'DNS:billing.internal'] }).cert);
  const legacy = cert.toLegacyObject();
  t.same(certificateNames(legacy), ['billing', 'spiffe://example.org/billing', 'billing.internal']);
});

t.test('a verified certificate names its client only as recorded when the connection was established', async (t) => {
  const ca = createTestCa();
  const serverCert = ca.issue({ commonName: 'localhost', altNames: ['DNS:localhost'], usage: 'server' });
  const client = ca.issue({ commonName: 'payments-api', usage: 'client' });
  const server = createServer({ cert: serverCert.cert, key: serverCert.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
  let connections = 0;
  const names: string[][] = [];
  server.on('secureConnection', (socket: TLSSocket) => {
    // Every other connection is recorded: the rest is state the handshake hook never saw.
    if (connections++ % 2 === 0) recordVerifiedClient(socket);
    names.push(verifiedClientNames(socket));
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, cert: client.cert, key: client.key }, () => socket.resume());
      socket.on('close', () => resolve()).on('error', reject);
    });
  }
  t.same(names, [['payments-api'], []], 'recorded, its names; authorized but never recorded, none');
  t.same(verifiedClientNames({}), [], 'not a TLS socket');
});
