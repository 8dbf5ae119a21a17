/**
 * What the HTTPS listener serves with, read from the files `server.tls` names and checked
 * before use: a certificate that parses, a private key that is the certificate's, client CAs
 * that parse. Every problem names its key; no message quotes a file's content.
 */
import { constants, createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { readBoundedFile } from '../config/bounded-file.js';
import { configInvalid, type ConfigProblem } from '../config/config-error.js';
import type { Config } from '../config/schema.js';

export type TlsConfig = Config['server']['tls'];

/** A chain of a few certificates, or a bundle of CAs, is tens of KiB; 1 MiB bounds a wrong file. */
const MAX_PEM_BYTES = 1024 * 1024;

export interface TlsMaterial {
  /** For `tls.Server#setSecureContext` and the server's options. */
  readonly context: SecureContextOptions;
  /** The leaf certificate served, for logs: subject, validity, fingerprint. */
  readonly certificate: X509Certificate;
}

/** The non-secret facts of a certificate, for a log line. */
export function describeCertificate(cert: X509Certificate): Record<string, string> {
  return { subject: cert.subject.replace(/\n/g, ', '), not_after: cert.validToDate.toISOString(), fingerprint_sha256: cert.fingerprint256 };
}

function read(path: string, key: string, problems: ConfigProblem[]): Buffer | null {
  const file = readBoundedFile(path, MAX_PEM_BYTES);
  if (!file.ok) problems.push({ path: `server.tls.${key}`, message: `cannot read ${path}: ${file.reason}` });
  return file.ok ? file.bytes : null;
}

/**
 * Reads and checks the files of `tls` (which must have `cert_file` and `key_file`). Throws
 * CONFIG_INVALID naming each file that is unreadable or wrong.
 */
export function loadTlsMaterial(tls: TlsConfig): TlsMaterial {
  if (tls.cert_file === undefined || tls.key_file === undefined) throw new TypeError('TLS needs server.tls.cert_file and server.tls.key_file');
  const problems: ConfigProblem[] = [];
  const certPem = read(tls.cert_file, 'cert_file', problems);
  const keyPem = read(tls.key_file, 'key_file', problems);
  const caPem = tls.client_ca_file === undefined ? null : read(tls.client_ca_file, 'client_ca_file', problems);

  let certificate: X509Certificate | null = null;
  if (certPem !== null) {
    try {
      certificate = new X509Certificate(certPem);
    } catch {
      problems.push({ path: 'server.tls.cert_file', message: `${tls.cert_file} holds no PEM certificate` });
    }
  }
  if (keyPem !== null) {
    try {
      const key = createPrivateKey(keyPem);
      if (certificate !== null && !certificate.checkPrivateKey(key)) {
        problems.push({ path: 'server.tls.key_file', message: `${tls.key_file} is not the key of the certificate in ${tls.cert_file}` });
      }
    } catch {
      problems.push({ path: 'server.tls.key_file', message: `${tls.key_file} holds no unencrypted PEM private key` });
    }
  }
  if (caPem !== null) {
    try {
      new X509Certificate(caPem);
    } catch {
      problems.push({ path: 'server.tls.client_ca_file', message: `${tls.client_ca_file} holds no PEM certificate` });
    }
  }
  if (problems.length > 0 || certificate === null || certPem === null || keyPem === null) throw configInvalid(problems, []);

  // No TLS 1.2 renegotiation: a client could present a second certificate after the verified one,
  // and Node would go on reporting the connection as authorized. In the context, so a reload keeps it.
  const context: SecureContextOptions = { cert: certPem, key: keyPem, minVersion: tls.min_version, secureOptions: constants.SSL_OP_NO_RENEGOTIATION, ...(caPem === null ? {} : { ca: caPem }) };
  try {
    // What OpenSSL itself refuses (a key type it cannot use, a chain in the wrong order).
    createSecureContext(context);
  } catch (err) {
    throw configInvalid([{ path: 'server.tls', message: `OpenSSL refuses these files: ${(err as Error).message}` }], []);
  }
  return { context, certificate };
}
