import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS } from '../src/errors.js';

const DOC = new URL('../docs/errors.md', import.meta.url);

/** `code → [error, status]` of every row of the tables in docs/errors.md. */
function documented(markdown: string): Map<string, [string, number]> {
  const rows = new Map<string, [string, number]>();
  for (const match of markdown.matchAll(/^\| `(LOGSTACK_ERR_[A-Z_]+)` \| `([a-z_]+)` \| (\d{3}) \|/gm)) {
    if (rows.has(match[1]!)) throw new TypeError(`${match[1]} is documented twice`);
    rows.set(match[1]!, [match[2]!, Number(match[3])]);
  }
  return rows;
}

t.test('docs/errors.md documents every catalogue entry, as it is, and nothing else', async (t) => {
  const rows = documented(readFileSync(DOC, 'utf8'));
  const catalogue = Object.values(ERRORS);
  for (const spec of catalogue) {
    t.same(rows.get(spec.code), [spec.apiError, spec.status], spec.code);
  }
  const codes = new Set(catalogue.map((spec) => spec.code));
  t.same([...rows.keys()].filter((code) => !codes.has(code)), [], 'no documented code is missing from the catalogue');
});

t.test('codes are unique and follow LOGSTACK_ERR_<AREA>_<WHAT>', async (t) => {
  const codes = Object.values(ERRORS).map((spec) => spec.code);
  t.equal(new Set(codes).size, codes.length);
  for (const [name, spec] of Object.entries(ERRORS)) t.equal(spec.code, `LOGSTACK_ERR_${name}`, name);
});
