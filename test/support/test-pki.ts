/**
 * Certificates made for a test, in pure Node: a CA, server and client certificates it signs,
 * expired ones. node:crypto signs but does not build X.509, so the certificate is assembled
 * here in DER (RFC 5280, the few structures a TLS handshake needs) and signed with ECDSA P-256.
 * No openssl binary, no dependency: CI runs on a clean machine.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

export interface Issued {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key (PKCS#8). */
  readonly key: string;
  /** SHA-256 fingerprint, as X509Certificate gives it. */
  readonly fingerprint: string;
}

export interface CertificateSpec {
  readonly commonName: string;
  /** `DNS:name`, `IP:127.0.0.1`, `URI:spiffe://…`, `email:a@b`. */
  readonly altNames?: readonly string[];
  readonly usage?: 'server' | 'client' | 'both';
  /** Default: an hour ago to a day from now. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface TestCa extends Issued {
  issue(spec: CertificateSpec): Issued;
}

// --- DER -----------------------------------------------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

/** A DER INTEGER of the unsigned big-endian `b`: minimal, so no leading zero byte unless the sign needs it. */
function integer(b: Buffer): Buffer {
  let start = 0;
  while (start < b.length - 1 && b[start] === 0) start++;
  const bytes = b.subarray(start);
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

// --- X.509 ---------------------------------------------------------------------------------------

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const EKU = { server: ['1.3.6.1.5.5.7.3.1'], client: ['1.3.6.1.5.5.7.3.2'], both: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] };

function name(commonName: string): Buffer {
  return seq(set(seq(oid('2.5.4.10'), utf8('LogStack tests'))), set(seq(oid('2.5.4.3'), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

function generalName(altName: string): Buffer {
  const colon = altName.indexOf(':');
  const [kind, value] = [altName.slice(0, colon), altName.slice(colon + 1)];
  switch (kind) {
    case 'DNS':
      return tlv(0x82, Buffer.from(value, 'ascii'));
    case 'URI':
      return tlv(0x86, Buffer.from(value, 'ascii'));
    case 'email':
      return tlv(0x81, Buffer.from(value, 'ascii'));
    case 'IP':
      if (isIP(value) !== 4) throw new TypeError(`only IPv4 addresses: ${value}`);
      return tlv(0x87, Buffer.from(value.split('.').map(Number)));
    default:
      throw new TypeError(`unknown alt name ${altName}`);
  }
}

function keyId(publicKey: KeyObject): Buffer {
  return createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

interface Signer {
  readonly name: Buffer;
  readonly key: KeyObject;
  readonly keyId: Buffer;
}

function certificate(spec: CertificateSpec & { ca: boolean }, publicKey: KeyObject, issuer: Signer | null, selfKey: KeyObject): string {
  const hour = 3600_000;
  const subject = name(spec.commonName);
  const ownId = keyId(publicKey);
  const extensions = [
    extension('2.5.29.19', true, spec.ca ? seq(bool(true)) : seq()),
    // keyCertSign + cRLSign for a CA, digitalSignature for a leaf.
    extension('2.5.29.15', true, spec.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7)),
    extension('2.5.29.14', false, octets(ownId)),
    extension('2.5.29.35', false, seq(tlv(0x80, issuer?.keyId ?? ownId))),
  ];
  if (!spec.ca) {
    extensions.push(extension('2.5.29.37', false, seq(...EKU[spec.usage ?? 'both'].map(oid))));
    if (spec.altNames?.length) extensions.push(extension('2.5.29.17', false, seq(...spec.altNames.map(generalName))));
  }
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(randomBytes(12)),
    ECDSA_SHA256,
    issuer?.name ?? subject,
    seq(time(spec.notBefore ?? new Date(Date.now() - hour)), time(spec.notAfter ?? new Date(Date.now() + 24 * hour))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, issuer?.key ?? selfKey);
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function issued(cert: string, privateKey: KeyObject): Issued {
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** A new certificate authority; each call makes an unrelated one. */
export function createTestCa(commonName = 'LogStack test CA'): TestCa {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const self = issued(certificate({ commonName, ca: true }, publicKey, null, privateKey), privateKey);
  const signer: Signer = { name: name(commonName), key: privateKey, keyId: keyId(publicKey) };
  return {
    ...self,
    issue(spec) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      return issued(certificate({ ...spec, ca: false }, pair.publicKey, signer, pair.privateKey), pair.privateKey);
    },
  };
}

/** A server certificate for the loopback listener: `localhost` and 127.0.0.1. */
export function issueServerCertificate(ca: TestCa, commonName = 'localhost', overrides: Partial<CertificateSpec> = {}): Issued {
  return ca.issue({ commonName, altNames: ['DNS:localhost', 'IP:127.0.0.1'], usage: 'server', ...overrides });
}
