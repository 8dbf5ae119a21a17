/**
 * Where the admin commands send their requests, and with which token: each from its flag, else
 * its environment variable, else the configuration `logstack serve` would run with (`--config`,
 * else LOGSTACK_CONFIG, else ./config.yaml, with the same LOGSTACK_* overrides). So in the
 * service's own container (a `preStop` hook) the commands need no option at all.
 *
 * The token is never a command-line value: argv is readable by every user of the machine (`ps`)
 * and lands in shell history. `--token-file` names a file that holds it (a mounted Secret).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { AdminFailure } from './admin-failure.js';

export const URL_VAR = 'LOGSTACK_URL';
export const TOKEN_VAR = 'LOGSTACK_ADMIN_TOKEN';
export const CA_VAR = 'LOGSTACK_CA_FILE';

/**
 * How an https:// service is trusted: the CAs of `--ca` (PEM), else the system's; or, for the
 * service of the configuration itself, its own certificate file, pinned (see admin-client.ts).
 */
export type TargetTrust = { readonly kind: 'system' } | { readonly kind: 'ca'; readonly pem: string } | { readonly kind: 'pinned'; readonly pem: string };

export interface AdminTarget {
  /** The service's base URL, without credentials or a trailing slash. */
  readonly url: string;
  readonly token: string;
  /** Where the token came from, for a 401's message: never the token. */
  readonly tokenSource: string;
  readonly trust: TargetTrust;
}

export interface TargetOptions {
  readonly url?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly caFile?: string | undefined;
  readonly config?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Loads the configuration as `logstack serve` does; throws a LogstackError when it cannot. */
  readonly loadConfig: (file: string | undefined) => Config;
}

/** Largest token file read (bytes): a token is a line; `--token-file /dev/zero` is not. */
export const MAX_TOKEN_FILE_BYTES = 4096;
/** Largest CA or certificate file read (bytes): a bundle of a few hundred certificates. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

const FILE_ERRORS: Readonly<Record<string, string>> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' };

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** `http[s]://host[:port][/prefix]`, credentials refused (they would be printed with the URL). */
export function parseServiceUrl(text: string, source: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AdminFailure('usage', `${source} is not a URL: give it as http://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AdminFailure('usage', `${source} must start with http:// or https://`);
  if (url.username !== '' || url.password !== '') throw new AdminFailure('usage', `${source} must not hold credentials: the admin token goes in ${TOKEN_VAR} or --token-file`);
  if (url.search !== '' || url.hash !== '') throw new AdminFailure('usage', `${source} must not have a query or a fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The address a local client reaches a service on that listens on `server.host` (https with `server.tls`). */
export function localServiceUrl(config: Pick<Config, 'server'>): string {
  const { host, port } = config.server;
  if (port === 0) throw new AdminFailure('usage', `server.port is 0 in the configuration (a port picked at start): give the service's URL with --url or ${URL_VAR}`);
  let name = host;
  if (host === '' || host === '0.0.0.0') name = '127.0.0.1';
  else if (host === '::' || host === '[::]') name = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) name = `[${host}]`;
  return `${config.server.tls.cert_file === undefined ? 'http' : 'https'}://${name}:${port}`;
}

/** At most `max` bytes of `file`; a larger file is a usage error naming `what`, never its content. */
function readBoundedFile(file: string, cwd: string, max: number, what: string): string {
  // One byte past the bound is read, to tell a file at the bound from a larger one.
  const buffer = Buffer.alloc(max + 1);
  let size = 0;
  try {
    const fd = openSync(resolve(cwd, file), 'r');
    try {
      for (;;) {
        const n = readSync(fd, buffer, size, buffer.length - size, null);
        size += n;
        if (n === 0 || size === buffer.length) break;
      }
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new AdminFailure('usage', `cannot read ${what} ${file}: ${FILE_ERRORS[code] ?? code}`);
  }
  if (size > max) throw new AdminFailure('usage', `${what} ${file} is larger than ${max} bytes: not ${what === '--token-file' ? 'a token' : 'a PEM file'}`);
  return buffer.toString('utf8', 0, size);
}

function readTokenFile(file: string, cwd: string): string {
  const token = nonEmpty(readBoundedFile(file, cwd, MAX_TOKEN_FILE_BYTES, '--token-file'));
  if (token === undefined) throw new AdminFailure('usage', `--token-file ${file} is empty`);
  return token;
}

export function resolveAdminTarget(options: TargetOptions): AdminTarget {
  const cwd = options.cwd ?? process.cwd();
  let url = options.url === undefined ? undefined : parseServiceUrl(options.url, '--url');
  const fromEnv = nonEmpty(options.env[URL_VAR]);
  if (url === undefined && fromEnv !== undefined) url = parseServiceUrl(fromEnv, URL_VAR);

  let token: string | undefined;
  let tokenSource = '';
  if (options.tokenFile !== undefined) {
    token = readTokenFile(options.tokenFile, cwd);
    tokenSource = `--token-file ${options.tokenFile}`;
  } else if (nonEmpty(options.env[TOKEN_VAR]) !== undefined) {
    token = nonEmpty(options.env[TOKEN_VAR]);
    tokenSource = TOKEN_VAR;
  }

  const caFile = options.caFile ?? nonEmpty(options.env[CA_VAR]);
  let trust: TargetTrust = caFile === undefined ? { kind: 'system' } : { kind: 'ca', pem: readBoundedFile(caFile, cwd, MAX_PEM_FILE_BYTES, '--ca') };

  if (url === undefined || token === undefined) {
    const config = options.loadConfig(options.config);
    if (url === undefined) {
      url = localServiceUrl(config);
      // The service of this very configuration (a preStop hook beside it): its certificate is
      // not issued for 127.0.0.1, but the configuration names the file it serves.
      const certFile = config.server.tls.cert_file;
      if (certFile !== undefined && trust.kind === 'system') trust = { kind: 'pinned', pem: readBoundedFile(certFile, cwd, MAX_PEM_FILE_BYTES, 'server.tls.cert_file') };
    }
    if (token === undefined && config.security.admin_token !== undefined) {
      token = config.security.admin_token;
      tokenSource = "the configuration's security.admin_token";
    }
  }
  if (token === undefined) {
    throw new AdminFailure('usage', `no admin token: set ${TOKEN_VAR}, give --token-file FILE, or name the service's configuration with --config`);
  }
  return { url, token, tokenSource, trust };
}
