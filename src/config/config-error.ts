/**
 * Turns what is wrong with a configuration into one CONFIG_INVALID error that names every
 * problem by key path, and never shows a secret, not even its first characters: the values of
 * secret keys are not quoted, an API key is named by its `name` or its place among the keys, a
 * URL's credentials are never quoted, and whatever text is left is scrubbed of every configured
 * secret as a last line of defence.
 */
import type { ErrorObject } from 'ajv';
import { logstackError, type LogstackError } from '../errors.js';
import { ApiKeySchema } from './schema.js';

export interface ConfigProblem {
  /** A key path (`wal.segment_max_bytes`) or, for a value that could not be read, the variable's name. */
  readonly path: string;
  readonly message: string;
  /** The environment variable the value came from, when it did not come from the file. */
  readonly source?: string;
}

/** Where a value came from, by JSON pointer of its key (`/server/port`); absent means the file. */
export type ValueSources = ReadonlyMap<string, string>;

/** What stands for a secret in a message: none of its characters, not even the first. */
const MASK = '…';
/** Shorter strings are too likely to occur by chance to be scrubbed from a message. */
const MIN_SCRUBBED_SECRET_LENGTH = 6;
const MAX_QUOTED_VALUE_LENGTH = 80;
const NAME_PATTERN = new RegExp(ApiKeySchema.properties.name.pattern ?? '^$');

/**
 * The user and password of a URL, in text that may not be a valid URL: what stands between its
 * `//` and the last `@` after it. A password that breaks the URL holds what ends an authority
 * (`/`, `?`, `#`, another `@`, a space), so the authority's own end cannot be trusted.
 */
function userinfoOf(text: string): { start: number; end: number } | null {
  const slashes = text.indexOf('//');
  const at = text.lastIndexOf('@');
  return slashes < 0 || at < slashes + 2 ? null : { start: slashes + 2, end: at };
}

export function pointer(segments: readonly string[]): string {
  return segments.map((s) => '/' + s.replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

function segmentsOf(instancePath: string): string[] {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keys whose values are credentials (for api_keys: the map's keys themselves). */
function isSecretPath(segments: readonly string[]): boolean {
  const [section, key] = segments;
  // An API key's own value is included: `api_keys: { payments: <token> }` is an easy mistake to make.
  if (section === 'security') return key === 'admin_token' || (key === 'api_keys' && segments.length <= 3);
  if (section === 'loki') return key === 'bearer_token' || key === 'basic_auth' || key === 'headers';
  return false;
}

/** Every credential in a (possibly invalid) configuration. */
export function collectSecrets(config: unknown): string[] {
  const secrets: unknown[] = [];
  if (isRecord(config)) {
    const { security, loki } = config;
    if (isRecord(security)) {
      secrets.push(security['admin_token']);
      // A loop, not push(...keys): a spread of a list as long as the config is long can overflow the stack.
      if (isRecord(security['api_keys'])) for (const token of Object.keys(security['api_keys'])) secrets.push(token);
    }
    if (isRecord(loki)) {
      secrets.push(loki['bearer_token']);
      if (isRecord(loki['basic_auth'])) secrets.push(loki['basic_auth']['password']);
      if (isRecord(loki['headers'])) for (const value of Object.values(loki['headers'])) secrets.push(value);
      const url = loki['base_url'];
      const span = typeof url === 'string' ? userinfoOf(url) : null;
      if (span !== null) {
        const userinfo = (url as string).slice(span.start, span.end);
        secrets.push(userinfo, userinfo.slice(userinfo.indexOf(':') + 1));
      }
    }
  }
  return secrets.filter((s): s is string => typeof s === 'string');
}

function scrubSecrets(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((s) => s.length >= MIN_SCRUBBED_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length)
    .reduce((out, secret) => out.split(secret).join(MASK), text);
}

/**
 * An API key of the map `keys` by its name when it has a usable one, else by its place among
 * the keys (`[#2]`, counted from 1): the token is the secret, and not even its first characters
 * are shown, since messages reach logs.
 */
export function apiKeyLabel(token: string, keys: unknown): string {
  const key = isRecord(keys) ? keys[token] : undefined;
  const name = isRecord(key) ? key['name'] : undefined;
  const usable = typeof name === 'string' && NAME_PATTERN.test(name) && name !== '.' && name !== '..';
  if (usable) return `[${name}]`;
  const position = isRecord(keys) ? Object.keys(keys).indexOf(token) : -1;
  return position < 0 ? `[${MASK}]` : `[#${position + 1}]`;
}

/** `security.api_keys[payments-api].name`, `loki.labels[1]`, `server.port`. */
function displayPath(segments: readonly string[], config: unknown): string {
  let out = '';
  let node: unknown = config;
  segments.forEach((segment, i) => {
    const parent = node;
    node = isRecord(parent) || Array.isArray(parent) ? (parent as Record<string, unknown>)[segment] : undefined;
    if (Array.isArray(parent) && /^\d+$/.test(segment)) out += `[${segment}]`;
    else if (i === 2 && segments[0] === 'security' && segments[1] === 'api_keys') out += apiKeyLabel(segment, parent);
    else out += (out === '' ? '' : '.') + segment;
  });
  return out === '' ? '(root)' : out;
}

function sourceOf(segments: readonly string[], sources: ValueSources): string | undefined {
  for (let n = segments.length; n > 0; n--) {
    const source = sources.get(pointer(segments.slice(0, n)));
    if (source !== undefined) return source;
  }
  return undefined;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
};

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return TYPE_NAMES[typeof value] ?? typeof value;
}

/** How a rejected value is shown: never for a secret key, never a credential inside a URL. */
function shown(value: unknown, secret: boolean): string | undefined {
  if (secret || typeof value === 'object' || value === undefined) return undefined;
  if (typeof value !== 'string') return String(value);
  const span = userinfoOf(value);
  const text = span === null ? value : value.slice(0, span.start) + MASK + value.slice(span.end);
  return JSON.stringify(text.length > MAX_QUOTED_VALUE_LENGTH ? text.slice(0, MAX_QUOTED_VALUE_LENGTH) + MASK : text);
}

function describe(error: ErrorObject, secret: boolean): string {
  const p = error.params as Record<string, unknown>;
  const value = shown(error.data, secret);
  const got = value === undefined ? '' : ` (got ${value})`;
  switch (error.keyword) {
    case 'type':
      return `must be ${TYPE_NAMES[String(p['type'])] ?? String(p['type'])} (got ${typeName(error.data)}${value === undefined ? '' : ` ${value}`})`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p['comparison'])} ${String(p['limit'])}${got}`;
    case 'minLength':
      return `must be at least ${String(p['limit'])} characters long${got}`;
    case 'maxLength':
      return `must be at most ${String(p['limit'])} characters long${got}`;
    case 'pattern':
      return `must match the pattern ${String(p['pattern'])}${got}`;
    case 'uniqueItems':
      return `must not repeat an item (items ${String(p['j'])} and ${String(p['i'])} are equal)`;
    case 'anyOf': {
      const allowed = (error.schema as { const?: unknown }[]).map((branch) => branch.const);
      return allowed.every((v) => typeof v === 'string')
        ? `must be one of ${allowed.join(', ')}${got}`
        : `must match one of the allowed forms${got}`;
    }
    default:
      return `${error.message ?? 'is invalid'}${got}`;
  }
}

/** One problem per thing the operator has to fix, from ajv's errors (which say some things twice). */
export function problemsFromAjv(errors: readonly ErrorObject[], config: unknown, sources: ValueSources): ConfigProblem[] {
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath + '/');
  const problems: ConfigProblem[] = [];
  for (const error of errors) {
    if (error.keyword === 'propertyNames' || anyOfPaths.some((p) => error.schemaPath.startsWith(p))) continue;
    const at = segmentsOf(error.instancePath);
    const p = error.params as Record<string, unknown>;
    let segments = at;
    let message: string;
    if (error.keyword === 'additionalProperties') {
      segments = [...at, String(p['additionalProperty'])];
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      message = `unknown key (expected one of ${allowed.join(', ')})`;
    } else if (error.keyword === 'required') {
      segments = [...at, String(p['missingProperty'])];
      message = 'is required';
    } else if (error.schemaPath.includes('/propertyNames/')) {
      segments = [...at, String(error.data)];
      const what = at[0] === 'security' && at[1] === 'api_keys' ? 'the token' : 'the key';
      message = `${what} ${describe(error, true)}`;
    } else {
      message = describe(error, isSecretPath(at));
    }
    const source = sourceOf(segments, sources);
    problems.push({ path: displayPath(segments, config), message, ...(source === undefined ? {} : { source }) });
  }
  return problems;
}

function formatProblem(problem: ConfigProblem): string {
  return `${problem.path}: ${problem.message}${problem.source === undefined ? '' : ` (set by ${problem.source})`}`;
}

export function configInvalid(problems: readonly ConfigProblem[], secrets: readonly string[]): LogstackError {
  const safe = problems.map((p) => ({
    ...p,
    path: scrubSecrets(p.path, secrets),
    message: scrubSecrets(p.message, secrets),
  }));
  const lines = safe.map(formatProblem);
  const summary = lines.length === 1 ? lines[0] : `${lines.length} problems:\n  - ${lines.join('\n  - ')}`;
  return logstackError('CONFIG_INVALID', [summary], { details: safe });
}
