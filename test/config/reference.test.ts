import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { listEnvVars } from '../../src/config/env-overrides.js';
import { schemaKeys } from '../../src/config/schema-keys.js';
import { TS_NODE_ARGS } from '../support/child.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const COMMAND = 'node --import ./scripts/resolve-ts.js scripts/config-reference.ts > docs/configuration.md';

t.test('docs/configuration.md is what the schema generates', async (t) => {
  const committed = readFileSync(`${REPO}docs/configuration.md`, 'utf8');
  const generated = execFileSync(process.execPath, [...TS_NODE_ARGS, 'scripts/config-reference.ts'], { cwd: REPO, encoding: 'utf8' });
  t.equal(committed, generated, `docs/configuration.md is stale; run: ${COMMAND}`);
});

t.test('the reference has one row per key of the schema and one per environment variable', async (t) => {
  const text = readFileSync(`${REPO}docs/configuration.md`, 'utf8');
  const keyRows = text.split('\n').filter((line) => /^\| `[a-z_]+\./.test(line));
  t.equal(keyRows.length, schemaKeys().filter((k) => k.segments.length > 1).length);
  for (const { name } of listEnvVars()) t.match(text, `| \`${name}\` |`, name);
});
