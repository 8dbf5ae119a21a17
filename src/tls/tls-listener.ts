/**
 * HTTPS on the listener, with certificates that change under it. The server starts with the
 * files of `server.tls`; afterwards they are watched, and when they change (cert-manager
 * renewing, a Kubernetes Secret's atomic `..data` swap) they are read and checked again and
 * become the server's secure context: new connections get the new certificate, established
 * ones keep theirs and are not cut. Files that do not check out — a certificate written before
 * its key, a key that does not match — leave the served ones in place until the next change.
 *
 * With `client_auth: request`, a client that presents a certificate the client CAs did not
 * sign is disconnected once the handshake ends: OpenSSL's handshake can make a certificate
 * optional or mandatory, not "optional, but valid when given". TLS 1.2 renegotiation is refused
 * (tls-material.ts), and the client certificate is the one verified as the connection was established.
 */
import type { ServerOptions } from 'node:https';
import type { Server, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { watchFiles, type FileWatcher } from '../config/file-watcher.js';
import { recordVerifiedClient } from './client-identity.js';
import { describeCertificate, loadTlsMaterial, type TlsConfig, type TlsMaterial } from './tls-material.js';

export interface TlsListenerOptions {
  readonly tls: TlsConfig;
  readonly logger: Logger;
  /** How often the files are looked at (ms). */
  readonly pollIntervalMs?: number;
  /** After each attempt to take new files: whether they were taken. */
  readonly onReload?: (ok: boolean, material: TlsMaterial | null) => void;
}

export class TlsListener {
  readonly #opts: TlsListenerOptions;
  #material: TlsMaterial;
  #watcher: FileWatcher | null = null;

  /** Reads the files; throws CONFIG_INVALID when they are unusable. */
  constructor(opts: TlsListenerOptions) {
    this.#opts = opts;
    this.#material = loadTlsMaterial(opts.tls);
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** The options of `https.createServer` (fastify's `https`). */
  get serverOptions(): ServerOptions {
    const { client_auth: clientAuth } = this.#opts.tls;
    return { ...this.#material.context, requestCert: clientAuth !== 'none', rejectUnauthorized: clientAuth === 'require' };
  }

  /** Starts watching the files and enforcing `client_auth: request` on `server`. */
  attach(server: Server): void {
    const { tls, logger } = this.#opts;
    if (tls.client_auth !== 'none') server.on('secureConnection', recordVerifiedClient);
    if (tls.client_auth === 'request') server.on('secureConnection', (socket: TLSSocket) => this.#refuseUnverified(socket));
    const files = [tls.cert_file, tls.key_file, tls.client_ca_file].filter((f) => f !== undefined);
    this.#watcher = watchFiles(files, () => this.#reload(server), this.#opts.pollIntervalMs);
    logger.info({ tls: { ...describeCertificate(this.#material.certificate), client_auth: tls.client_auth, min_version: tls.min_version } }, 'serving HTTPS');
  }

  #refuseUnverified(socket: TLSSocket): void {
    if (socket.authorized || Object.keys(socket.getPeerCertificate()).length === 0) return;
    this.#opts.logger.warn(
      { event: 'tls_client_refused', client: socket.remoteAddress, reason: socket.authorizationError?.toString() },
      'client certificate not signed by server.tls.client_ca_file; connection closed',
    );
    socket.destroy();
  }

  #reload(server: Server): void {
    const { logger, onReload } = this.#opts;
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.#opts.tls);
    } catch (err) {
      logger.error({ err }, 'new TLS files not taken; the listener keeps serving the previous certificate');
      onReload?.(false, null);
      return;
    }
    server.setSecureContext(next.context);
    this.#material = next;
    logger.info({ tls: describeCertificate(next.certificate) }, 'TLS files reloaded; new connections get the new certificate');
    onReload?.(true, next);
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }
}
