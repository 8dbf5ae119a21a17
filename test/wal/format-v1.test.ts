/**
 * A WAL written by the previous release (format version 1: each record carries its label set)
 * is delivered after an upgrade, exactly as that release would have delivered it, and the WAL
 * tools read it. The files in test/fixtures/wal-v1/ were written by that release's own code
 * (see the README there), with what it delivered from them recorded beside them.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { readCursor } from '../../src/wal/cursor-file.js';
import { decodeHeader, HEADER_BYTES } from '../../src/wal/segment-format.js';
import { spawnCli } from '../support/child.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn, type ReceivedEntry } from '../support/loki-stand-in.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/wal-v1/', import.meta.url));
const TOKEN = 'tok_app_0123456789abcdef';
const ADMIN = 'adm_0123456789abcdef0123456789';

type Delivered = Omit<ReceivedEntry, never>;

async function copyOfFixture(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'logstack-v1-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await cp(join(FIXTURE, 'app'), join(root, 'app'), { recursive: true });
  return root;
}

async function start(t: Test, root: string, loki: LokiStandIn): Promise<{ service: LogstackService; url: string; flush(): Promise<number> }> {
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 1 },
    security: { admin_token: ADMIN, api_keys: { [TOKEN]: { name: 'app', tenant: 'team-app' } } },
    wal: { wal_root_path: root, segment_max_bytes: 8192, lock_stale_seconds: 2 },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, batch_max_entries: 10, backoff_initial_ms: 10, backoff_max_ms: 100 },
  });
  const service = new LogstackService({ config, logger: createLogger({ level: 'silent' }), version: 'test' });
  const url = await service.start();
  t.teardown(() => service.stop(0));
  return {
    service,
    url,
    async flush() {
      const res = await fetch(`${url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      await res.arrayBuffer();
      return res.status;
    },
  };
}

function key(e: Delivered): string {
  return JSON.stringify([e.tenant, e.labels, e.tsNs, e.line, e.structuredMetadata]);
}

t.test('a WAL of the previous release is delivered after the upgrade as that release delivered it; new entries go to a version 2 segment', async (t) => {
  const expected = JSON.parse(await readFile(join(FIXTURE, 'delivered-by-v1.json'), 'utf8')) as Delivered[];
  const root = await copyOfFixture(t);
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const r = await start(t, root, loki);
  t.equal(await r.flush(), 200);
  const received = loki.received();
  t.equal(received.length, 80, 'the 80 entries after the cursor');
  t.same(received.map(key).sort(), expected.map(key).sort(), 'each exactly as the previous release delivered it');
  t.equal(r.service.wal.token('app').stats().corruptRecords, 0);

  const files = (await readdir(join(root, 'app'))).filter((f) => f.endsWith('.wal'));
  t.same(files, ['0000000000000005.wal'], 'the delivered version 1 segments are deleted; appends go to a new segment');
  const header = decodeHeader((await readFile(join(root, 'app', files[0]!))).subarray(0, HEADER_BYTES));
  t.match(header, { version: 2, segment: 5, firstSeq: 114 }, 'of version 2, its seqs continuing those of the old segments');
  t.match(await readCursor(join(root, 'app')), { kind: 'ok', cursor: { segment: 5, ackedSeq: 113 } }, 'the cursor, in its new file');
});

t.test('a redelivery after a crash is byte-identical to the first delivery: Loki drops all of it', async (t) => {
  const root = await copyOfFixture(t);
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  // Loki refuses until the copy is taken: nothing is delivered, nothing deleted meanwhile.
  loki.setStandingAnswer(lokiAnswers.unavailable());
  const first = await start(t, root, loki);
  const append = await fetch(`${first.url}/v1/logs:ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ entries: Array.from({ length: 20 }, (_, i) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `v2 entry ${i}`, service: 'shop', env: 'prod' })) }),
  });
  t.equal(append.status, 202);
  // Copied before the delivery: what a crash right after the pushes and before the cursor leaves.
  const before = await mkdtemp(join(tmpdir(), 'logstack-v1-before-'));
  t.teardown(() => rm(before, { recursive: true, force: true }));
  await cp(join(root, 'app'), before, { recursive: true });
  loki.setStandingAnswer(null);
  t.equal(await first.flush(), 200);
  await first.service.stop(0);
  const delivered = loki.received().length;
  t.equal(delivered, 100);

  await rm(join(root, 'app'), { recursive: true });
  await cp(before, join(root, 'app'), { recursive: true });
  const again = await start(t, root, loki);
  t.equal(await again.flush(), 200);
  t.equal(loki.received().length, delivered, 'nothing new at Loki');
  t.equal(loki.duplicatesReceived, 100, 'every entry was sent again, identical, and dropped as a duplicate');
});

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(['wal', ...args]);
  const { code } = await child.exited;
  return { code, stdout: child.lines.join('\n'), stderr: child.stderr() };
}

t.test('logstack wal verify, stat and dump read version 1 segments', async (t) => {
  const root = await copyOfFixture(t);
  const [verify, stat, dump] = await Promise.all([cli('verify', root, '--json'), cli('stat', root, '--json'), cli('dump', root, '--token', 'app')]);
  t.equal(verify.code, 0, verify.stdout);
  const v = JSON.parse(verify.stdout).tokens[0];
  t.match(v, { name: 'app', damaged: false, lost_entries: 0, cursor: { state: 'ok', used: true, segment: 2, offset: 785, acked_seq: 33 } });
  t.same(
    v.segments.map((s: { segment: number; format_version: number }) => [s.segment, s.format_version]),
    [
      [2, 1],
      [3, 1],
      [4, 1],
    ],
  );
  t.equal(stat.code, 0, stat.stderr);
  t.match(JSON.parse(stat.stdout).tokens[0], { name: 'app', pending_entries: 80, corrupt_records: 0, dead_letters: 3 });
  t.equal(dump.code, 0, dump.stderr);
  const lines = dump.stdout.split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 80);
  t.match(lines[0], { segment: 2, offset: 785, seq: 34, labels: '{env="prod", level="WARN", service="shop"}', line: /^order 34 paid with card \*\*\*\*1111/ });
  t.ok(lines.some((l) => l.labels === '{job="promtail", namespace="prod", pod="shop-1"}' && l.structured_metadata.trace_id), 'entries of the push API, with their structured metadata');
});

t.test('damage in a version 1 segment costs the records it hit, counted exactly, and verify says the same', async (t) => {
  const expected = JSON.parse(await readFile(join(FIXTURE, 'delivered-by-v1.json'), 'utf8')) as Delivered[];
  const root = await copyOfFixture(t);
  const file = join(root, 'app', '0000000000000003.wal');
  const bytes = await readFile(file);
  // A byte in the middle of the segment: one record's payload.
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  await writeFile(file, bytes);
  const verify = await cli('verify', root, '--json');
  t.equal(verify.code, 1);
  t.equal(JSON.parse(verify.stdout).lost_entries, 1, 'verify: one entry lost');

  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const r = await start(t, root, loki);
  t.equal(await r.flush(), 200);
  t.equal(loki.received().length, 79, 'every other entry delivered');
  t.equal(r.service.wal.token('app').stats().corruptRecords, 1, 'the service counts the same');
  const got = new Set(loki.received().map(key));
  t.equal(expected.filter((e) => !got.has(key(e))).length, 1);
});
