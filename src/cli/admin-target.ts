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

export interface AdminTarget {
  /** The service's base URL, without credentials or a trailing slash. */
  readonly url: string;
  readonly token: string;
  /** Where the token came from, for a 401's message: never the token. */
  readonly tokenSource: string;
}

export interface TargetOptions {
  readonly url?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly config?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Loads the configuration as `logstack serve` does; throws a LogstackError when it cannot. */
  readonly loadConfig: (file: string | undefined) => Config;
}

/** Largest token file read (bytes): a token is a line; `--token-file /dev/zero` is not. */
export const MAX_TOKEN_FILE_BYTES = 4096;

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

/** The address a local client reaches a service on that listens on `server.host`. */
export function localServiceUrl(config: Pick<Config, 'server'>): string {
  const { host, port } = config.server;
  if (port === 0) throw new AdminFailure('usage', `server.port is 0 in the configuration (a port picked at start): give the service's URL with --url or ${URL_VAR}`);
  let name = host;
  if (host === '' || host === '0.0.0.0') name = '127.0.0.1';
  else if (host === '::' || host === '[::]') name = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) name = `[${host}]`;
  return `http://${name}:${port}`;
}

function readTokenFile(file: string, cwd: string): string {
  // One byte past the bound is read, to tell a file at the bound from a larger one.
  const buffer = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
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
    throw new AdminFailure('usage', `cannot read --token-file ${file}: ${FILE_ERRORS[code] ?? code}`);
  }
  if (size > MAX_TOKEN_FILE_BYTES) throw new AdminFailure('usage', `--token-file ${file} is larger than ${MAX_TOKEN_FILE_BYTES} bytes: not a token`);
  const token = nonEmpty(buffer.toString('utf8', 0, size));
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

  if (url === undefined || token === undefined) {
    const config = options.loadConfig(options.config);
    url ??= localServiceUrl(config);
    if (token === undefined && config.security.admin_token !== undefined) {
      token = config.security.admin_token;
      tokenSource = "the configuration's security.admin_token";
    }
  }
  if (token === undefined) {
    throw new AdminFailure('usage', `no admin token: set ${TOKEN_VAR}, give --token-file FILE, or name the service's configuration with --config`);
  }
  return { url, token, tokenSource };
}
