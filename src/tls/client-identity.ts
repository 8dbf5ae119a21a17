/**
 * Who the client of a TLS connection is, by its certificate: the names a key's `client_subject`
 * is compared with. Only a certificate the handshake verified against `server.tls.client_ca_file`
 * counts; anyone can present an unverified one.
 */
import { TLSSocket } from 'node:tls';

/** The part of `TLSSocket#getPeerCertificate()` read here. */
export interface PeerCertificateNames {
  readonly subject?: { readonly CN?: string | readonly string[] };
  /** `DNS:a.example, URI:spiffe://…, email:x@y, IP Address:…`; values with a comma are JSON-quoted. */
  readonly subjectaltname?: string;
}

const NAMED_ALT_NAMES = new Set(['DNS', 'URI', 'email']);

/** The `subjectaltname` entries as [kind, value], read the way Node writes them (quoted values since Node 17). */
export function parseAltNames(text: string): Array<[kind: string, value: string]> {
  const out: Array<[string, string]> = [];
  const entry = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/y;
  while (entry.lastIndex < text.length) {
    const start = entry.lastIndex;
    const m = entry.exec(text);
    if (m === null || entry.lastIndex === start) break;
    const raw = m[2]!;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    out.push([m[1]!.trim(), value.trim()]);
  }
  return out;
}

/** The Common Name(s) and the DNS, URI and email alternative names of a certificate. */
export function certificateNames(cert: PeerCertificateNames): string[] {
  const cn = cert.subject?.CN;
  const names = cn === undefined ? [] : typeof cn === 'string' ? [cn] : [...cn];
  for (const [kind, value] of parseAltNames(cert.subjectaltname ?? '')) if (NAMED_ALT_NAMES.has(kind)) names.push(value);
  return names;
}

/**
 * The certificate each connection's handshake verified, by fingerprint. `authorized` and the
 * peer certificate are the socket's state now, and a later handshake (a TLS 1.2 renegotiation)
 * could change the certificate and leave `authorized` as it was: only the certificate seen
 * verified when the connection was established names its client.
 */
const verifiedAtHandshake = new WeakMap<TLSSocket, string>();

/** On `secureConnection`: the certificate `socket` was verified with is its client's for good. */
export function recordVerifiedClient(socket: TLSSocket): void {
  if (!socket.authorized) return;
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  if (fingerprint !== undefined) verifiedAtHandshake.set(socket, fingerprint);
}

/**
 * The names of the verified client certificate of `socket`; none over plain HTTP, without a
 * certificate, with one not verified, or with one other than the certificate verified at the handshake.
 */
export function verifiedClientNames(socket: unknown): string[] {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return [];
  const certificate = socket.getPeerCertificate();
  const verified = verifiedAtHandshake.get(socket);
  if (verified === undefined || certificate.fingerprint256 !== verified) return [];
  return certificateNames(certificate);
}
