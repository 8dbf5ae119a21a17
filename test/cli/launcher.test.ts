import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../bin/logstack.js', import.meta.url));

t.test('bin/logstack.js runs as an executable, through the node flags of its first line', async (t) => {
  const { stdout } = await promisify(execFile)(LAUNCHER, ['version'], { cwd: REPO });
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(stdout.trim(), version);
  t.match(readFileSync(LAUNCHER, 'utf8').split('\n')[0], /^#!\/usr\/bin\/env -S node --max-semi-space-size=\d+$/, 'what npm start and the container execute');
});

t.test('npm start is the launcher itself, so that its flags apply (the image: test/docs/deployment.test.ts)', async (t) => {
  const { scripts } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  t.equal(scripts.start, './bin/logstack.js serve');
});
