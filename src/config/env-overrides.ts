/**
 * Environment overrides with the Python original's names and precedence:
 * `LOGSTACK_API_KEY_{ID}_{FIELD}` > `LOGSTACK_SECURITY_API_KEYS` (JSON) > the file, and one
 * variable per key of the schema, `LOGSTACK_<SECTION>_<KEY>`. The variables are derived from the
 * schema, so a new key gets its variable and its documentation without anyone writing them down.
 */
import { ApiKeySchema } from './schema.js';
import { enumValues, kindOf, LIST_ITEM, MAP_ENTRY, schemaKeys, type SchemaNode } from './schema-keys.js';
import { pointer, type ConfigProblem, type ValueSources } from './config-error.js';

export interface EnvVar {
  /** `{ID}` stands for a name the operator chooses. */
  readonly name: string;
  /** The key it sets, e.g. `server.port`; for LOGSTACK_CONFIG, `--config`, the option it stands in for. */
  readonly path: string;
  /** How the value is read, e.g. `integer`, `JSON list`. */
  readonly format: string;
  /** The preferred name of the same key, when this name is an alternative. */
  readonly aliasOf?: string;
}

export interface EnvOverrides {
  readonly config: Record<string, unknown>;
  readonly problems: readonly ConfigProblem[];
  /** Which variable set which key, so a validation error can name it. */
  readonly sources: ValueSources;
}

export interface ConfigFileChoice {
  readonly path: string;
  readonly namedBy: '--config' | 'LOGSTACK_CONFIG' | 'default';
}

const PREFIX = 'LOGSTACK_';
const CONFIG_FILE_VAR = 'LOGSTACK_CONFIG';
const API_KEY_PREFIX = 'LOGSTACK_API_KEY_';
const API_KEYS_PATH = ['security', 'api_keys'] as const;
const DEFAULT_CONFIG_FILE = './config.yaml';
const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false, 1: true, 0: false, yes: true, no: false };

interface Binding {
  /** Preferred first. */
  readonly names: readonly string[];
  readonly segments: readonly string[];
  readonly schema: SchemaNode;
}

function envName(segments: readonly string[]): string {
  return PREFIX + segments.join('_').toUpperCase();
}

/**
 * Server keys keep the original's short names (`LOGSTACK_PORT`), and a key that repeats its
 * section (`wal.wal_root_path`) keeps the original's `LOGSTACK_WAL_ROOT_PATH`; the systematic
 * name works too.
 */
function namesOf(segments: readonly string[]): string[] {
  const [section = '', key = '', ...rest] = segments;
  const systematic = envName(segments);
  if (section === 'server') return [envName([key, ...rest]), systematic];
  if (key.startsWith(`${section}_`)) return [envName([section, key.slice(section.length + 1), ...rest]), systematic];
  return [systematic];
}

/** Every key outside maps and lists that is not a section: scalars directly, maps and lists as JSON. */
const BINDINGS: readonly Binding[] = schemaKeys()
  .filter((key) => key.kind !== 'section' && !key.segments.some((s) => s === MAP_ENTRY || s === LIST_ITEM))
  .map((key) => ({ names: namesOf(key.segments), segments: key.segments, schema: key.schema }));

/** Per-key fields of `LOGSTACK_API_KEY_{ID}_{FIELD}`: TOKEN plus every key of an API key. */
const API_KEY_FIELDS: ReadonlyMap<string, { property: string; schema: SchemaNode }> = new Map(
  Object.entries(ApiKeySchema.properties).map(([property, schema]) => [property.toUpperCase(), { property, schema: schema as SchemaNode }]),
);
const API_KEY_VAR = new RegExp(`^${API_KEY_PREFIX}(.+)_(TOKEN|${[...API_KEY_FIELDS.keys()].join('|')})$`);

function formatOf(schema: SchemaNode): string {
  const kind = kindOf(schema);
  if (kind === 'list') return 'JSON list';
  if (kind === 'map' || kind === 'section') return 'JSON object';
  const allowed = enumValues(schema);
  if (allowed !== undefined) return `one of ${allowed.join(', ')}`;
  if (schema.type === 'boolean') return 'boolean: true/false, 1/0, yes/no';
  return schema.type ?? 'string';
}

type Read = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: string };

/**
 * Reads a variable by the type its key has in the schema. JSON parse errors are not quoted: V8's
 * message repeats part of the text, and the text may be a list of API tokens.
 */
function readValue(raw: string, schema: SchemaNode): Read {
  const kind = kindOf(schema);
  if (kind !== 'value') {
    try {
      return { ok: true, value: JSON.parse(raw) };
    } catch {
      return { ok: false, problem: `must be a ${formatOf(schema)} (the value is not valid JSON)` };
    }
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const pattern = schema.type === 'integer' ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
    const value = Number(raw.trim());
    if (pattern.test(raw.trim()) && Number.isFinite(value) && (schema.type === 'number' || Number.isSafeInteger(value))) return { ok: true, value };
    // Kubernetes injects `<SERVICE>_PORT=tcp://...` for every Service, so a Service named
    // `logstack` sets LOGSTACK_PORT behind the operator's back.
    const hint = raw.startsWith('tcp://') ? '; this looks like a Kubernetes service link: set enableServiceLinks: false on the pod' : '';
    return { ok: false, problem: `must be ${schema.type === 'integer' ? 'an integer' : 'a number'} (got ${JSON.stringify(raw)})${hint}` };
  }
  if (schema.type === 'boolean') {
    const value = BOOLEANS[raw.trim().toLowerCase()];
    return value === undefined ? { ok: false, problem: `must be a boolean: true/false, 1/0 or yes/no (got ${JSON.stringify(raw)})` } : { ok: true, value };
  }
  return { ok: true, value: raw };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An empty variable counts as unset, as compose files and templated manifests produce them. */
function valueOf(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The object at `segments`, created where missing. Undefined when something in the way is not an
 * object: the file's value then stays, and validation reports it.
 */
function objectAt(config: Record<string, unknown>, segments: readonly string[]): Record<string, unknown> | undefined {
  let node = config;
  for (const segment of segments) {
    if (node[segment] === undefined) node[segment] = {};
    const next = node[segment];
    if (!isRecord(next)) return undefined;
    node = next;
  }
  return node;
}

export function resolveConfigPath(argvPath: string | undefined, env: NodeJS.ProcessEnv): ConfigFileChoice {
  if (argvPath !== undefined && argvPath !== '') return { path: argvPath, namedBy: '--config' };
  const fromEnv = valueOf(env, CONFIG_FILE_VAR);
  if (fromEnv !== undefined) return { path: fromEnv, namedBy: CONFIG_FILE_VAR };
  return { path: DEFAULT_CONFIG_FILE, namedBy: 'default' };
}

export function listEnvVars(): EnvVar[] {
  const dotted = (segments: readonly string[]) => segments.join('.');
  return [
    { name: CONFIG_FILE_VAR, path: '--config', format: `file path; \`--config\` wins, default ${DEFAULT_CONFIG_FILE}` },
    ...BINDINGS.flatMap(({ names, segments, schema }) =>
      names.map((name, i) => ({ name, path: dotted(segments), format: formatOf(schema), ...(i > 0 ? { aliasOf: names[0] } : {}) })),
    ),
    { name: `${API_KEY_PREFIX}{ID}_TOKEN`, path: `${dotted(API_KEYS_PATH)}.<token>`, format: 'string (this or TOKEN_FILE required)' },
    ...[...API_KEY_FIELDS].map(([field, { property, schema }]) => ({
      name: `${API_KEY_PREFIX}{ID}_${field}`,
      path: `${dotted(API_KEYS_PATH)}.<token>.${property}`,
      format: formatOf(schema),
    })),
  ];
}

function applyBinding(config: Record<string, unknown>, binding: Binding, env: NodeJS.ProcessEnv, problems: ConfigProblem[], sources: Map<string, string>): void {
  const given = binding.names.filter((name) => valueOf(env, name) !== undefined);
  const [name] = given;
  if (name === undefined) return;
  const path = binding.segments.join('.');
  const raw = valueOf(env, name) ?? '';
  if (given.some((other) => valueOf(env, other) !== raw)) {
    problems.push({ path: given.join(', '), message: `both set ${path}, to different values; set one of them` });
    return;
  }
  const read = readValue(raw, binding.schema);
  if (!read.ok) {
    problems.push({ path: `${name} (${path})`, message: read.problem });
    return;
  }
  const parent = objectAt(config, binding.segments.slice(0, -1));
  const key = binding.segments[binding.segments.length - 1] ?? '';
  if (parent === undefined) return;
  if (path !== API_KEYS_PATH.join('.')) {
    parent[key] = read.value;
    sources.set(pointer(binding.segments), name);
    return;
  }
  // The JSON variable adds keys to the file's and replaces those with the same token.
  if (!isRecord(read.value)) {
    problems.push({ path: name, message: 'must be a JSON object of token → key' });
    return;
  }
  const keys = objectAt(parent, [key]);
  if (keys === undefined) return;
  // Spreading defines a token named `__proto__` as a plain key, where assigning it would not.
  parent[key] = { ...keys, ...read.value };
  for (const token of Object.keys(read.value)) sources.set(pointer([...API_KEYS_PATH, token]), name);
}

interface IndividualKey {
  readonly id: string;
  token?: string;
  readonly fields: Record<string, unknown>;
}

function readIndividualKeys(env: NodeJS.ProcessEnv, problems: ConfigProblem[]): IndividualKey[] {
  const byId = new Map<string, IndividualKey>();
  for (const name of Object.keys(env).filter((n) => n.startsWith(API_KEY_PREFIX)).sort()) {
    const raw = valueOf(env, name);
    if (raw === undefined) continue;
    const match = API_KEY_VAR.exec(name);
    const [, id, field] = match ?? [];
    if (id === undefined || field === undefined) {
      problems.push({ path: name, message: `is not a known variable; API keys are set by ${API_KEY_PREFIX}<ID>_<FIELD> with FIELD one of TOKEN, ${[...API_KEY_FIELDS.keys()].join(', ')}` });
      continue;
    }
    const key = byId.get(id) ?? { id, fields: {} };
    byId.set(id, key);
    const spec = API_KEY_FIELDS.get(field);
    if (spec === undefined) {
      key.token = raw;
      continue;
    }
    const read = readValue(raw, spec.schema);
    if (read.ok) key.fields[spec.property] = read.value;
    else problems.push({ path: name, message: read.problem });
  }
  return [...byId.values()];
}

function defaultName(id: string): string {
  return id.toLowerCase().replace(/_/g, '-');
}

/**
 * Individual keys win over the file and the JSON variable: an existing key with the same token,
 * or with the same name (case-insensitively) under another token, is replaced as a whole. The
 * latter is how a token is rotated from the environment without editing the file.
 */
function applyIndividualKeys(config: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: ConfigProblem[], sources: Map<string, string>): void {
  const individual = readIndividualKeys(env, problems);
  const complete: { token: string; key: Record<string, unknown>; source: string }[] = [];
  const tokenOwner = new Map<string, string>();
  for (const { id, token: value, fields } of individual) {
    const source = `${API_KEY_PREFIX}${id}_*`;
    if (value !== undefined && fields['token_file'] !== undefined) {
      problems.push({ path: `${API_KEY_PREFIX}${id}_TOKEN, ${API_KEY_PREFIX}${id}_TOKEN_FILE`, message: 'both give the token of the key; set one of them' });
      continue;
    }
    // Listed under its variable's name until secret-files.ts reads the file.
    const token = value ?? (fields['token_file'] === undefined ? undefined : `${API_KEY_PREFIX}${id}_TOKEN_FILE`);
    if (token === undefined) {
      problems.push({ path: `${API_KEY_PREFIX}${id}_TOKEN`, message: `is required (or ${API_KEY_PREFIX}${id}_TOKEN_FILE): other ${source} variables are set` });
      continue;
    }
    const owner = tokenOwner.get(token);
    if (owner !== undefined) {
      problems.push({ path: `${owner}, ${source}`, message: 'give the same token; a token can be only one key' });
      continue;
    }
    tokenOwner.set(token, source);
    complete.push({ token, key: { name: defaultName(id), active: true, ...fields }, source });
  }
  if (complete.length === 0) return;
  const security = objectAt(config, ['security']);
  const keys = security === undefined ? undefined : objectAt(security, ['api_keys']);
  if (security === undefined || keys === undefined) return;
  const replacedNames = new Set(complete.map(({ key }) => String(key['name']).toLowerCase()));
  const kept = Object.entries(keys).filter(([token, existing]) => {
    const name = isRecord(existing) ? existing['name'] : undefined;
    const replaced = tokenOwner.has(token) || (typeof name === 'string' && replacedNames.has(name.toLowerCase()));
    if (replaced) sources.delete(pointer([...API_KEYS_PATH, token]));
    return !replaced;
  });
  security['api_keys'] = Object.fromEntries([...kept, ...complete.map(({ token, key }) => [token, key] as const)]);
  for (const { token, source } of complete) sources.set(pointer([...API_KEYS_PATH, token]), source);
}

/** The file's configuration with the environment applied; `fileConfig` is not modified. */
export function applyEnvOverrides(fileConfig: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): EnvOverrides {
  const config = structuredClone(fileConfig) as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  const sources = new Map<string, string>();
  for (const binding of BINDINGS) applyBinding(config, binding, env, problems, sources);
  applyIndividualKeys(config, env, problems, sources);
  return { config, problems, sources };
}
