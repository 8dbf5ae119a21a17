/**
 * Secrets read from files, as Kubernetes Secrets and Docker secrets are mounted:
 * `security.admin_token_file` (LOGSTACK_SECURITY_ADMIN_TOKEN_FILE) and an API key's `token_file`
 * (LOGSTACK_API_KEY_{ID}_TOKEN_FILE). A key with `token_file` is listed under an identifier of
 * the operator's choosing, not its token; once read, it is listed under its token like any other
 * key, and keeps `token_file` so that a reload knows which file to watch and read again.
 *
 * The file's content is the token, without the whitespace and newline around it that `echo` and
 * `kubectl create secret --from-file` leave. No message ever quotes it; a key read from a file is
 * named by its `name`, or by its identifier, which is not a secret.
 */
import { resolve } from 'node:path';
import { readBoundedFile } from './bounded-file.js';
import { apiKeyLabel, pointer, type ConfigProblem } from './config-error.js';

/** A token is tens of bytes; anything near this is not a token file. */
const MAX_TOKEN_FILE_BYTES = 16 * 1024;
const API_KEYS = ['security', 'api_keys'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type TokenRead = { readonly token: string } | { readonly problem: string };

function readToken(path: string, cwd: string): TokenRead {
  const file = readBoundedFile(resolve(cwd, path), MAX_TOKEN_FILE_BYTES);
  if (!file.ok) return { problem: `cannot read ${path}: ${file.reason}` };
  const token = file.bytes.toString('utf8').trim();
  return token === '' ? { problem: `${path} is empty` } : { token };
}

function sourceOf(sources: Map<string, string>, segments: readonly string[]): string | undefined {
  return sources.get(pointer(segments));
}

/**
 * The admin token from its file. A value and a file from the same place contradict each other;
 * from different places, the environment wins over the configuration file, as everywhere else.
 */
function resolveAdminToken(security: Record<string, unknown>, sources: Map<string, string>, cwd: string, problems: ConfigProblem[]): void {
  const path = security['admin_token_file'];
  if (typeof path !== 'string') return;
  if (security['admin_token'] !== undefined) {
    const valueFromEnv = sourceOf(sources, ['security', 'admin_token']) !== undefined;
    const fileFromEnv = sourceOf(sources, ['security', 'admin_token_file']) !== undefined;
    if (valueFromEnv === fileFromEnv) {
      const where = valueFromEnv ? `${sourceOf(sources, ['security', 'admin_token'])} and ${sourceOf(sources, ['security', 'admin_token_file'])}` : 'the file';
      problems.push({ path: 'security.admin_token, security.admin_token_file', message: `both set the admin token (in ${where}); set one of them` });
      return;
    }
    if (valueFromEnv) {
      delete security['admin_token_file'];
      return;
    }
  }
  const read = readToken(path, cwd);
  if ('problem' in read) {
    problems.push({ path: 'security.admin_token_file', message: read.problem });
    return;
  }
  security['admin_token'] = read.token;
  sources.set(pointer(['security', 'admin_token']), `security.admin_token_file ${path}`);
}

/** Re-lists each key that has a `token_file` under the token read from it, in the same place. */
function resolveKeyTokens(security: Record<string, unknown>, sources: Map<string, string>, cwd: string, problems: ConfigProblem[]): void {
  const keys = security['api_keys'];
  if (!isRecord(keys) || !Object.values(keys).some((key) => isRecord(key) && key['token_file'] !== undefined)) return;
  const entries: Array<[string, unknown]> = [];
  const taken = new Set(Object.entries(keys).flatMap(([token, key]) => (isRecord(key) && key['token_file'] !== undefined ? [] : [token])));
  for (const [id, key] of Object.entries(keys)) {
    const path = isRecord(key) ? key['token_file'] : undefined;
    if (typeof path !== 'string') {
      entries.push([id, key]);
      continue;
    }
    // By its name; an identifier without a usable name is not shown, in case it is a token.
    const label = apiKeyLabel(id, keys);
    const read = readToken(path, cwd);
    if ('problem' in read) {
      problems.push({ path: `security.api_keys${label}.token_file`, message: read.problem });
      continue;
    }
    if (taken.has(read.token)) {
      problems.push({ path: `security.api_keys${label}.token_file`, message: `${path} holds the token of another key; a token can be only one key` });
      continue;
    }
    taken.add(read.token);
    entries.push([read.token, key]);
    const from = sourceOf(sources, [...API_KEYS, id]);
    sources.delete(pointer([...API_KEYS, id]));
    sources.set(pointer([...API_KEYS, read.token]), from === undefined ? `token_file ${path}` : `${from}, token_file ${path}`);
  }
  // Spreading defines a token named `__proto__` as a plain key, where assigning it would not.
  security['api_keys'] = Object.fromEntries(entries);
}

/**
 * Reads the secret files `config` names into it (not yet validated: whatever is not as expected
 * is left for validation to report). Relative paths are relative to `cwd`. Returns the problems;
 * `sources` learns which file set each secret.
 */
export function resolveSecretFiles(config: Record<string, unknown>, sources: Map<string, string>, cwd: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const security = config['security'];
  if (!isRecord(security)) return problems;
  resolveAdminToken(security, sources, cwd, problems);
  resolveKeyTokens(security, sources, cwd, problems);
  return problems;
}
