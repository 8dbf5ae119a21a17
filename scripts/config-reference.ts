/**
 * Prints the configuration reference, generated from the config schema:
 *
 *   node --import ./scripts/resolve-ts.js scripts/config-reference.ts > docs/configuration.md
 *
 * test/config/reference.test.ts fails when docs/configuration.md differs from what this prints,
 * so a key added to the schema is documented (and its environment variable listed) by re-running it.
 */
import { pathToFileURL } from 'node:url';
import { listEnvVars } from '../src/config/env-overrides.js';
import { enumValues, kindOf, LIST_ITEM, MAP_ENTRY, mapValueSchema, schemaKeys, type SchemaKey, type SchemaNode } from '../src/config/schema-keys.js';

/** How the keys of each map are called in key paths. */
const MAP_KEY_NAMES: Readonly<Record<string, string>> = {
  api_keys: '<token>',
  partial_rules: '<key>',
  static_labels: '<label>',
  headers: '<header>',
};

function keyPath(segments: readonly string[]): string {
  return segments.reduce((path, segment, i) => {
    if (segment === LIST_ITEM) return `${path}[]`;
    const shown = segment === MAP_ENTRY ? (MAP_KEY_NAMES[segments[i - 1] ?? ''] ?? '<key>') : segment;
    return path === '' ? shown : `${path}.${shown}`;
  }, '');
}

function typeOf(node: SchemaNode): string {
  switch (kindOf(node)) {
    case 'section':
      return 'object';
    case 'list':
      return node.items === undefined ? 'list' : `list of ${typeOf(node.items)}`;
    case 'map':
      return `map of ${typeOf(mapValueSchema(node))}`;
    case 'value': {
      const allowed = enumValues(node);
      return allowed === undefined ? (node.type ?? 'any') : `one of ${allowed.map(code).join(', ')}`;
    }
  }
}

function rulesOf(node: SchemaNode): string[] {
  const rules: string[] = [];
  if (node.minimum !== undefined) rules.push(`≥ ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined) rules.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined) rules.push(`≤ ${node.maximum}`);
  if (node.minLength !== undefined && node.minLength > 1) rules.push(`at least ${node.minLength} characters`);
  if (node.minLength === 1) rules.push('not empty');
  if (node.maxLength !== undefined) rules.push(`at most ${node.maxLength} characters`);
  if (node.pattern !== undefined) rules.push(`matches ${code(node.pattern)}`);
  if (node.uniqueItems === true) rules.push('no repeats');
  if (node.items !== undefined && enumValues(node.items) === undefined) rules.push(...rulesOf(node.items).map((r) => `items: ${r}`));
  if (node.propertyNames !== undefined) rules.push(...rulesOf(node.propertyNames).map((r) => `keys: ${r}`));
  if (kindOf(node) === 'map') rules.push(...rulesOf(mapValueSchema(node)).map((r) => `values: ${r}`));
  return rules;
}

function defaultOf(key: SchemaKey): string {
  if (key.schema.default !== undefined) return code(JSON.stringify(key.schema.default));
  return key.required ? 'required' : 'unset';
}

/** A table cell: GitHub's tables end a cell at any `|`, even inside code. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** A code span, doubled around text that holds a backtick itself. */
function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function keyTable(keys: readonly SchemaKey[]): string {
  const rows = keys.map(
    (key) => `| ${code(keyPath(key.segments))} | ${cell(typeOf(key.schema))} | ${cell(defaultOf(key))} | ${cell(rulesOf(key.schema).join('; '))} | ${cell(key.schema.description ?? '')} |`,
  );
  return ['| key | type | default | allowed | description |', '|---|---|---|---|---|', ...rows].join('\n');
}

function envTable(): string {
  const rows = listEnvVars().map(
    (v) => `| ${code(v.name)} | ${cell(code(v.path))} | ${cell(v.format)} | ${v.aliasOf === undefined ? '' : `same as ${code(v.aliasOf)}`} |`,
  );
  return ['| variable | sets | value | note |', '|---|---|---|---|', ...rows].join('\n');
}

const INTRODUCTION = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`node --import ./scripts/resolve-ts.js scripts/config-reference.ts > docs/configuration.md\`.
     Do not edit by hand: a test compares this file with what the script prints. -->

LogStack reads one YAML file, applies the environment on top of it, and validates the result
against one JSON schema (\`src/config/schema.ts\`) before it starts. \`config.yaml\` at the root
of the repository shows every key with a comment.

## Where the configuration comes from

1. **The file**: \`logstack serve --config FILE\`, else \`$LOGSTACK_CONFIG\`, else \`./config.yaml\`.
   A file named by \`--config\` or \`LOGSTACK_CONFIG\` must exist; when the default \`./config.yaml\`
   is missing, LogStack runs on the defaults and the environment alone.
2. **\`LOGSTACK_SECURITY_API_KEYS\`**: a JSON object of token → key. Its keys are added to the
   file's; a key with a token the file also has replaces the file's key of that token.
3. **\`LOGSTACK_API_KEY_{ID}_{FIELD}\`**: one key per \`{ID}\` (your choice, e.g. \`PAYMENTS\`).
   \`TOKEN\` is required; \`NAME\` defaults to the ID in lower case with \`_\` as \`-\`
   (\`PAYMENTS_EU\` → \`payments-eu\`); \`ACTIVE\` defaults to \`true\`. Such a key replaces, as a
   whole, any key from the file or \`LOGSTACK_SECURITY_API_KEYS\` that has the same token **or the
   same name** (ignoring case): that is how a token is rotated from the environment. Settings of
   the replaced key (tenant, masking, ...) are not carried over; give them as \`{FIELD}\`s too.
   An unknown \`LOGSTACK_API_KEY_*\` variable is an error, so that a typo cannot leave a key active.
4. **One variable per key**, \`LOGSTACK_<SECTION>_<KEY>\` in upper case, listed below. They win
   over the file. Server keys keep the original's short names (\`LOGSTACK_PORT\`); the
   systematic \`LOGSTACK_SERVER_PORT\` works too. If both names of a key are set, they must agree.

Values of variables are read by the key's type: integers and numbers in decimal, booleans as
\`true\`/\`false\`, \`1\`/\`0\` or \`yes\`/\`no\`, lists and maps as JSON (the JSON replaces the
file's value as a whole). An empty variable counts as unset. In Kubernetes, set
\`enableServiceLinks: false\` on the pod: a Service named \`logstack\` would otherwise inject
\`LOGSTACK_PORT=tcp://...\`.

## Validation

Unknown keys, wrong types and values out of range stop the start with \`LOGSTACK_ERR_CONFIG_INVALID\`,
which lists every problem by key path (and the variable that set it, if one did), for example:

\`\`\`text
Invalid configuration: 2 problems:
  - wal.segment_max_bytes: must be >= 4096 (got 12) (set by LOGSTACK_WAL_SEGMENT_MAX_BYTES)
  - security.api_keys[payments-api].tenent: unknown key (expected one of name, active, description, tenant, masking, rate_limit_rps, rate_limit_burst, wal_quota_bytes)
\`\`\`

A file that is not valid YAML stops it with \`LOGSTACK_ERR_CONFIG_UNREADABLE\` and the line and
column. Beyond the schema: API key names are unique ignoring case (a name is a WAL directory and a
metrics label) and are not \`.\` or \`..\`; the admin token is none of the API tokens;
\`loki.backoff_initial_ms\` ≤ \`loki.backoff_max_ms\`; \`loki.tls.cert_file\` and \`key_file\` come
together; at most one of \`loki.basic_auth\`, \`loki.bearer_token\` and an \`Authorization\` header;
\`loki.base_url\` is a URL the parser accepts (host, port); each \`masking.patterns.custom\` pattern
is a regular expression that compiles and does not match the empty string.
\`server.debug: true\` makes the log level at least DEBUG; \`WARNING\` means WARN and \`CRITICAL\`
means FATAL.

No message shows a secret, not even its first characters: an API key is named by its \`name\`
(or, when the name is unusable, by its place among the keys: \`security.api_keys[#2]\`), the
values of \`security.admin_token\`, \`loki.bearer_token\`, \`loki.basic_auth\` and
\`loki.headers\` are never quoted, nor the user and password of \`loki.base_url\`.
`;

export function renderConfigReference(): string {
  const keys = schemaKeys();
  const sections = keys.filter((k) => k.segments.length === 1);
  const parts = [INTRODUCTION, '## Keys'];
  for (const section of sections) {
    const name = section.segments[0] ?? '';
    parts.push(`### ${code(name)}`, keyTable(keys.filter((k) => k.segments.length > 1 && k.segments[0] === name)));
  }
  parts.push('## Environment variables', envTable());
  return parts.join('\n\n') + '\n';
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(renderConfigReference());
}
