/**
 * A restart after SIGKILL (an OOM kill) answers /healthz as fast as a clean start: the dead
 * process's WAL lock is taken at once, and dead letters, however many, are not parsed at start.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { tokenDirName } from '../../src/wal/token-dir.js';
import { HOSTILE_ADMIN_TOKEN, HOSTILE_KEY, HOSTILE_TOKEN, probe, startHostileService } from './harness.js';

/**
 * What a restart may take beyond the clean start of the same process: generous (a busy machine
 * starts a process in 3 to 10 s), and still far below the 60 s a stale lock would take.
 */
const SLACK_MS = 20_000;

t.test('a restart after SIGKILL, with 80 MB of dead letters, answers as fast as a clean start', async (t) => {
  // Waiting for the dead process's lock to go stale would take 60 s.
  const service = await startHostileService(t, { config: { wal: { lock_stale_seconds: 60 } } });
  const accepted = await fetch(`${service.url}/v1/logs:ingest`, {
    method: 'POST',
    body: JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message: 'before the kill', service: 's', env: 'e' }] }),
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' },
  });
  t.equal(accepted.status, 202);

  // Dead letters as the store writes them: 2 files of 40 MB, 1,000 entries a line.
  const dir = join(service.walRoot, tokenDirName(HOSTILE_KEY), 'dead-letter');
  await mkdir(dir, { recursive: true });
  const entry = JSON.stringify({ s: 1700000000, n: 0, labels: '{service="s"}', line: 'x'.repeat(40), sm: [['k', 'v']] });
  const line = `${JSON.stringify({ at: 1, status: 400, reason: 'timestamp_too_old', message: 'too old', entries: [] }).slice(0, -2)}${Array(1000).fill(entry).join(',')}]}\n`;
  const file = line.repeat(Math.ceil(40e6 / line.length));
  await writeFile(join(dir, '0000000000000001.jsonl'), file);
  await writeFile(join(dir, '0000000000000002.jsonl'), file);

  await service.kill();
  const restartMs = await service.restart();
  t.ok(restartMs < service.startedInMs + SLACK_MS, `restarted in ${restartMs.toFixed(0)} ms; the clean start took ${service.startedInMs.toFixed(0)} ms`);
  t.equal(await probe(service.url), 200);

  const deadLetters = await fetch(`${service.url}/v1/admin/dead-letters`, { headers: { authorization: `Bearer ${HOSTILE_ADMIN_TOKEN}` } });
  const body = (await deadLetters.json()) as { tokens: Record<string, { entries: number }> };
  t.equal(body.tokens[HOSTILE_KEY]!.entries, 2 * 1000 * Math.ceil(40e6 / line.length), 'the dead letters are all counted, after the start');
});
