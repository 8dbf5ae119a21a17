import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Pair } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { LIST_ITEM, MAP_ENTRY, schemaKeys } from '../../src/config/schema-keys.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TEXT = readFileSync(`${REPO}config.yaml`, 'utf8');
const LINES = TEXT.split('\n');
/** config.yaml's convention: `## ` starts prose, `# ` an optional key shown with an example value. */
const UNCOMMENTED = LINES.map((line) => line.replace(/^(\s*)# /, '$1')).join('\n');

function pairsAt(node: unknown, segments: readonly string[]): Pair[] {
  const [head, ...rest] = segments;
  if (head === undefined) return [];
  if (head === LIST_ITEM) return isSeq(node) ? node.items.flatMap((item) => pairsAt(item, rest)) : [];
  if (!isMap(node)) return [];
  const pairs = node.items.filter((pair) => head === MAP_ENTRY || (isScalar(pair.key) && pair.key.value === head));
  return rest.length === 0 ? pairs : pairs.flatMap((pair) => pairsAt(pair.value, rest));
}

t.test("npm start's config.yaml loads: port 8000, WAL ./wal, Loki on localhost, the seed's example keys", async (t) => {
  const config = loadConfig({ cwd: REPO, env: {} });
  t.equal(config.server.port, 8000);
  t.equal(config.wal.wal_root_path, './wal');
  t.equal(config.loki.base_url, 'http://localhost:3100');
  t.equal(config.security.admin_token, 'logstack_admin123456789abcdef0123');
  t.same(
    Object.entries(config.security.api_keys).map(([token, key]) => [token, key.name, key.active]),
    [
      ['logstack_1a2b3c4d5e6f7890abcdef12', 'payments-api', true],
      ['logstack_9f8e7d6c5b4a3210fedcba98', 'user-service', true],
    ],
  );
  t.match(TEXT, /PUBLIC EXAMPLES/, 'the file warns that its tokens must be replaced');
});

t.test('config.yaml sets every key to its default, apart from the example keys', async (t) => {
  const fromFile = loadConfig({ cwd: REPO, env: {} });
  const defaults = loadConfig({ cwd: t.testdir({}), env: {} });
  t.same({ ...fromFile, security: { ...fromFile.security, api_keys: {}, admin_token: undefined } }, { ...defaults, security: { ...defaults.security, admin_token: undefined } });
});

t.test('every key of the schema is in config.yaml, set or commented out, with a comment', async (t) => {
  const lineCounter = new LineCounter();
  const doc = parseDocument(UNCOMMENTED, { lineCounter });
  t.same(doc.errors, [], 'config.yaml with its optional keys uncommented is valid YAML');
  const documented = (pair: Pair): boolean => {
    const at = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
    if (at === undefined) return false;
    const line = lineCounter.linePos(at).line;
    const own = (LINES[line - 1] ?? '').replace(/^\s*#? ?/, '');
    return /\s#\s/.test(own) || (LINES[line - 2] ?? '').trim().startsWith('##');
  };
  for (const key of schemaKeys()) {
    const path = key.segments.join('.');
    const pairs = pairsAt(doc.contents, key.segments);
    t.ok(pairs.length > 0, `${path} is in config.yaml`);
    t.ok(pairs.some(documented), `${path} has a comment in config.yaml`);
  }
});

t.test("config.yaml's commented-out examples are valid values", async (t) => {
  const all = parseDocument(UNCOMMENTED).toJS() as { security: { api_keys: Record<string, Record<string, unknown>> } & Record<string, unknown>; loki: Record<string, unknown> };
  // A token or its file: the example shows both; the files are the ones of a Kubernetes example.
  const { admin_token_file: adminFile, ...security } = all.security;
  security.api_keys = Object.fromEntries(Object.entries(all.security.api_keys).map(([token, { token_file: _, ...key }]) => [token, key]));
  t.match(adminFile, /^\//, 'the admin token file example is an absolute path');
  // Loki takes one Authorization header, so the example shows two alternatives: try each alone.
  for (const alternative of ['basic_auth', 'bearer_token']) {
    const loki = Object.fromEntries(Object.entries(all.loki).filter(([key]) => key !== alternative));
    const dir = t.testdir({ 'config.yaml': stringify({ ...all, security, loki }) });
    t.doesNotThrow(() => loadConfig({ cwd: dir, env: {} }), `without loki.${alternative}`);
  }
});
