import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { certificateNames, parseAltNames } from '../../src/tls/client-identity.js';
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
