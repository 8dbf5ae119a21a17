/**
 * Loads the configuration: the YAML file, then the environment, then one validation against the
 * schema that also fills in the defaults, then the checks that span several keys. Everything that
 * is wrong is reported at once, by key path, without secrets; a config that loads is complete.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import type { LevelWithSilent } from 'pino';
import { LineCounter, parseDocument } from 'yaml';
import { logstackError } from '../errors.js';
import { customPatternProblem } from '../masking/custom-patterns.js';
import { apiKeyLabel, collectSecrets, configInvalid, pointer, problemsFromAjv, type ConfigProblem, type ValueSources } from './config-error.js';
import { applyEnvOverrides, resolveConfigPath, type ConfigFileChoice } from './env-overrides.js';
import { resolveSecretFiles } from './secret-files.js';
import { ConfigSchema, type ApiKeyConfig, type Config } from './schema.js';

export interface LoadConfigOptions {
  /** The file named on the command line (`--config`); else LOGSTACK_CONFIG, else ./config.yaml. */
  file?: string;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** What a relative file path is relative to; default the working directory. */
  cwd?: string;
}

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'SILENT'] as const;
type Level = (typeof LEVELS)[number];
/** The original's Python level names. */
const LEVEL_ALIASES: Readonly<Record<string, Level>> = { WARNING: 'WARN', CRITICAL: 'FATAL' };

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A YAML error is reported by the yaml package's code and its line and column only, never its
 * message: messages quote what they could not read (a block scalar header `|S3cret…`, an alias
 * `*S3cret…`, a duplicated key), and on a line of this file that may be a token or a password.
 */
function readConfigFile(choice: ConfigFileChoice, cwd: string): Record<string, unknown> {
  const shownPath = choice.namedBy === 'default' ? choice.path : `${choice.path} (named by ${choice.namedBy})`;
  let text: string;
  try {
    text = readFileSync(resolve(cwd, choice.path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (choice.namedBy === 'default' && code === 'ENOENT') return {};
    throw logstackError('CONFIG_UNREADABLE', [shownPath, FILE_ERRORS[code] ?? (err as Error).message], { cause: err });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    const where = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `YAML error ${e.code} at line ${line}, column ${col}`;
    });
    throw logstackError('CONFIG_UNREADABLE', [shownPath, where.join('; ')]);
  }
  let content: unknown;
  try {
    content = doc.toJS();
  } catch (err) {
    // An alias that no anchor before it defines, or aliases past the package's expansion limit.
    throw logstackError('CONFIG_UNREADABLE', [shownPath, `YAML aliases cannot be resolved (${(err as Error).name})`]);
  }
  if (content === null || content === undefined) return {};
  if (!isRecord(content)) throw configInvalid([{ path: '(root)', message: `must be a mapping of sections (server, security, ...), got ${Array.isArray(content) ? 'a list' : typeof content}` }], []);
  return content;
}

let compiled: ValidateFunction<Config> | undefined;

function validator(): ValidateFunction<Config> {
  // ajv's strict mode refuses a default on the root schema; what it validates here is always an object.
  compiled ??= new Ajv({ useDefaults: true, coerceTypes: false, allErrors: true, strict: true, verbose: true }).compile<Config>({
    ...ConfigSchema,
    default: undefined,
  });
  return compiled;
}

/**
 * What a key's name stands for, whichever of its tokens a request brings: its WAL, bucket,
 * masking, tenant and certificate. Two tokens of one name (a rotation) must agree on these.
 */
const PER_NAME: readonly (keyof ApiKeyConfig)[] = ['tenant', 'masking', 'rate_limit_rps', 'rate_limit_burst', 'wal_quota_bytes', 'client_subject'];

function apiKeyProblems(config: Config, sources: ValueSources): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const keys = config.security.api_keys;
  const tokensByName = new Map<string, string[]>();
  for (const [token, key] of Object.entries(keys)) {
    if (key.name === '.' || key.name === '..') {
      problems.push({ path: `security.api_keys${apiKeyLabel(token, keys)}.name`, message: 'must not be "." or "..": the name becomes a directory' });
    }
    const name = key.name.toLowerCase();
    tokensByName.set(name, [...(tokensByName.get(name) ?? []), token]);
  }
  for (const tokens of tokensByName.values()) {
    if (tokens.length < 2) continue;
    const spellings = [...new Set(tokens.map((t) => JSON.stringify(keys[t]?.name)))];
    const from = [...new Set(tokens.map((t) => sources.get(pointer(['security', 'api_keys', t])) ?? 'the file'))].join(', ');
    if (spellings.length > 1) {
      problems.push({
        path: 'security.api_keys',
        message: `${tokens.length} keys are named ${spellings.join(' and ')} (from ${from}); a name is a WAL directory and a metrics label, so its spellings must not differ only in case`,
      });
      continue;
    }
    const [first, ...others] = tokens.map((t) => keys[t]!);
    const differing = PER_NAME.filter((field) => others.some((other) => JSON.stringify(other[field]) !== JSON.stringify(first![field])));
    if (differing.length > 0) {
      problems.push({
        path: 'security.api_keys',
        message: `${tokens.length} keys are named ${spellings[0]} (from ${from}) with different ${differing.join(', ')}; tokens of one name are one key (a rotation) and must agree on all but active and description`,
      });
    }
  }
  const admin = config.security.admin_token;
  if (admin !== undefined && Object.hasOwn(keys, admin)) {
    problems.push({ path: 'security.admin_token', message: `must differ from every API token; it is the token of security.api_keys${apiKeyLabel(admin, keys)}` });
  }
  return problems;
}

function limitProblems({ limits }: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const share = limits.max_body_bytes_in_flight_per_key;
  // Otherwise a body of the largest size allowed could never be read.
  if (limits.max_body_bytes_in_flight < limits.max_body_bytes) {
    problems.push({ path: 'limits.max_body_bytes_in_flight', message: `must be >= limits.max_body_bytes (got ${limits.max_body_bytes_in_flight} < ${limits.max_body_bytes})` });
  }
  // A share that follows a budget too small is that budget's problem, told once.
  if (share < limits.max_body_bytes && share !== limits.max_body_bytes_in_flight) {
    problems.push({ path: 'limits.max_body_bytes_in_flight_per_key', message: `must be >= limits.max_body_bytes (got ${share} < ${limits.max_body_bytes})` });
  }
  if (share > limits.max_body_bytes_in_flight) {
    problems.push({
      path: 'limits.max_body_bytes_in_flight_per_key',
      message: `must be <= limits.max_body_bytes_in_flight (got ${share} > ${limits.max_body_bytes_in_flight}): it is one key's share of that budget`,
    });
  }
  return problems;
}

/**
 * A key's share of the body budget is 52 MiB of the default 64 unless set, and the whole budget
 * when only that is set: a configuration that sized the budget before keys had a share (smaller
 * for memory, larger for bigger pushes) runs as it did.
 */
function defaultKeyShare(config: Record<string, unknown>): void {
  const limits = config['limits'];
  if (!isRecord(limits) || limits['max_body_bytes_in_flight_per_key'] !== undefined) return;
  if (limits['max_body_bytes_in_flight'] !== undefined) limits['max_body_bytes_in_flight_per_key'] = limits['max_body_bytes_in_flight'];
}

function lokiProblems({ loki }: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // The schema checks the scheme only; the rest (host, port, characters) is the URL parser's. Its
  // error quotes the URL, credentials included, so only the key path is told.
  if (!URL.canParse(loki.base_url)) problems.push({ path: 'loki.base_url', message: 'is not a valid URL (check the host, the port and the characters of the user and password)' });
  if (loki.backoff_initial_ms > loki.backoff_max_ms) {
    problems.push({ path: 'loki.backoff_initial_ms', message: `must be <= loki.backoff_max_ms (got ${loki.backoff_initial_ms} > ${loki.backoff_max_ms})` });
  }
  if ((loki.tls.cert_file === undefined) !== (loki.tls.key_file === undefined)) {
    problems.push({ path: 'loki.tls', message: 'cert_file and key_file go together: mutual TLS needs both' });
  }
  // Each of these is an Authorization header; Loki would see only one of them.
  const authorizations = [
    loki.basic_auth === undefined ? undefined : 'loki.basic_auth',
    loki.bearer_token === undefined ? undefined : 'loki.bearer_token',
    ...Object.keys(loki.headers).filter((h) => h.toLowerCase() === 'authorization').map((h) => `loki.headers.${h}`),
  ].filter((p) => p !== undefined);
  if (authorizations.length > 1) {
    problems.push({ path: authorizations.join(', '), message: 'each sets the Authorization header of the pushes; set only one' });
  }
  return problems;
}

/** Custom patterns are compiled here, so that a bad one stops the start like any bad value. */
function maskingProblems({ masking }: Config): ConfigProblem[] {
  return masking.patterns.custom.flatMap((pattern, i) => {
    const problem = customPatternProblem(pattern);
    return problem === null ? [] : [{ path: `masking.patterns.custom[${i}].pattern`, message: `(${pattern.name}) ${problem}` }];
  });
}

function tlsProblems({ server, security }: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const tls = server.tls;
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
    problems.push({ path: 'server.tls', message: 'cert_file and key_file go together: HTTPS needs both' });
  }
  const mutual = tls.client_auth !== 'none';
  if (tls.cert_file === undefined && (mutual || tls.client_ca_file !== undefined)) {
    problems.push({ path: 'server.tls', message: 'client_auth and client_ca_file need cert_file and key_file: client certificates are asked for in a TLS handshake' });
  }
  if (mutual && tls.client_ca_file === undefined) {
    problems.push({ path: 'server.tls.client_ca_file', message: `is required with client_auth ${tls.client_auth}: it says which client certificates are accepted` });
  }
  if (!mutual && tls.client_ca_file !== undefined) {
    problems.push({ path: 'server.tls.client_auth', message: 'is none, so client_ca_file is not used; set client_auth to request or require' });
  }
  for (const [token, key] of Object.entries(security.api_keys)) {
    if (key.client_subject !== undefined && !mutual) {
      problems.push({
        path: `security.api_keys${apiKeyLabel(token, security.api_keys)}.client_subject`,
        message: 'needs server.tls.client_auth request or require: without a verified client certificate no request with this key would be accepted',
      });
    }
  }
  return problems;
}

/** The problems of a configuration that each key's schema cannot see: keys that contradict each other. */
export function crossKeyProblems(config: Config, sources: ValueSources = new Map()): ConfigProblem[] {
  return [...apiKeyProblems(config, sources), ...limitProblems(config), ...lokiProblems(config), ...tlsProblems(config), ...maskingProblems(config)];
}

function canonicalLevel(server: Pick<Config['server'], 'debug' | 'log_level'>): Level {
  const upper = server.log_level.toUpperCase();
  const level = LEVEL_ALIASES[upper] ?? LEVELS.find((l) => l === upper);
  if (level === undefined) throw new TypeError(`unknown log level ${server.log_level}`);
  // `debug: true` asks for DEBUG at least; a more verbose TRACE stays.
  return server.debug && LEVELS.indexOf(level) > LEVELS.indexOf('DEBUG') ? 'DEBUG' : level;
}

/** The pino level of a configuration: `server.log_level` in pino's words, at least `debug` when `server.debug`. */
export function pinoLevel(config: { readonly server: Pick<Config['server'], 'debug' | 'log_level'> }): LevelWithSilent {
  return canonicalLevel(config.server).toLowerCase() as LevelWithSilent;
}

/**
 * The configuration from the file (`options.file`, else LOGSTACK_CONFIG, else ./config.yaml, which
 * alone may be missing), the environment and the secret files they name, with every default
 * filled in and `server.log_level` in canonical form (TRACE, DEBUG, INFO, WARN, ERROR, FATAL or
 * SILENT). Throws CONFIG_UNREADABLE or CONFIG_INVALID.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const fromFile = readConfigFile(resolveConfigPath(options.file, env), cwd);
  const overridden = applyEnvOverrides(fromFile, env);
  const { config } = overridden;
  const sources = new Map(overridden.sources);
  const problems = [...overridden.problems, ...resolveSecretFiles(config, sources, cwd)];
  defaultKeyShare(config);
  const validate = validator();
  if (!validate(config)) throw configInvalid([...problems, ...problemsFromAjv(validate.errors ?? [], config, sources)], collectSecrets(config));
  const all = [...problems, ...crossKeyProblems(config, sources)];
  if (all.length > 0) throw configInvalid(all, collectSecrets(config));
  config.server.log_level = canonicalLevel(config.server);
  return config;
}
