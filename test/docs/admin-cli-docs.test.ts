import { readFileSync } from 'node:fs';
import t from 'tap';
import { ADMIN_EXIT_CODES } from '../../src/cli/admin-failure.js';

t.test("the README's exit codes of the admin commands are the CLI's, as they are", async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Admin commands'), readme.indexOf('## WAL tools'));
  const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2] }));
  t.same(
    rows,
    ADMIN_EXIT_CODES.map(({ code, meaning }) => ({ code, meaning })),
  );
});
