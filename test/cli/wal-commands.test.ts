import { createHash } from 'node:crypto';
import { appendFile, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DeadLetterStore } from '../../src/forwarder/dead-letter-store.js';
import { timestampNs, type LokiEntry } from '../../src/loki/entry.js';
import { segmentFileName } from '../../src/wal/segment-format.js';
import type { TokenWal } from '../../src/wal/types.js';
import { spawnCli, spawnTs } from '../support/child.js';
import { entries, lokiBatch, openWal, payload, shipped } from '../support/wal.js';

const WORKER = fileURLToPath(new URL('../fixtures/wal-worker.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function wal(...args: string[]): Promise<Run> {
  const child = spawnCli(['wal', ...args]);
  const { code } = await child.exited;
  return { code, stdout: child.lines.join('\n'), stderr: child.stderr() };
}

function entry(i: number): LokiEntry {
  return {
    seconds: 1_700_000_000 + i,
    nanos: i * 1001,
    labels: '{env="prod", level="ERROR", service="payments-api"}',
    line: `Payment ${i} failed for card ****1111 — «retry» ✓ ${'x'.repeat(150)}`,
    structuredMetadata: [
      ['order_id', `O-${i}`],
      ['user_email', 'j******e@example.com'],
    ],
  };
}

/** Every file under `dir` but the lock (its mtime is the running holder's heartbeat), with a hash of its bytes. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if (!e.isFile() || path.startsWith(join(dir, '.lock'))) continue;
    out[path.slice(dir.length)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}

async function ackUpTo(w: TokenWal, seq: number): Promise<void> {
  const { records } = await w.read(w.cursor, { maxRecords: seq - w.stats().ackedSeq, maxBytes: 1 << 20 });
  await w.ack(records.at(-1)!.next, records.at(-1)!.seq);
}

t.test('verify, stat and dump read a WAL held open by a running store, see its lock, and change no byte', async (t) => {
  const root = t.testdir();
  const store = await openWal(root, { segmentMaxBytes: 4096 });
  const alpha = store.token('alpha');
  for (let i = 1; i <= 30; i += 3) await alpha.append(lokiBatch([i, i + 1, i + 2].map((n) => entry(n))));
  await store.token('beta').append(lokiBatch([entry(100)]));
  await ackUpTo(alpha, 4);
  const deadLetters = new DeadLetterStore(join(root, 'alpha', 'dead-letter'), 1 << 20);
  await deadLetters.open();
  await deadLetters.write([shipped(entry(901)), shipped(entry(902))], 400, 'line_too_long', 'line too long', Date.now());
  const stats = alpha.stats();
  t.ok(stats.segments >= 3, `${stats.segments} segments`);

  const before = await fingerprint(root);
  const [verify, stat, dump] = await Promise.all([wal('verify', root, '--json'), wal('stat', root, '--json'), wal('dump', root, '--token', 'alpha', '--from-start')]);
  t.same(await fingerprint(root), before, 'no file written, created or removed');
  await store.close();

  t.equal(verify.code, 0, verify.stderr);
  const verified = JSON.parse(verify.stdout);
  t.match(verified, { root, lock_held: true, damaged: false, tokens: [{ name: 'alpha', damaged: false }, { name: 'beta', damaged: false }] });
  t.same(verified.tokens[0].findings, []);

  t.equal(stat.code, 0, stat.stderr);
  const figures = JSON.parse(stat.stdout).tokens[0];
  t.match(figures, {
    name: 'alpha',
    segments: stats.segments,
    disk_bytes: stats.diskBytes,
    pending_entries: stats.pendingEntries,
    pending_bytes: stats.pendingBytes,
    oldest_unshipped_appended_at: new Date(stats.oldestPendingAppendedAtMs!).toISOString(),
    cursor: { state: 'ok', acked_seq: 4 },
    dead_letters: 2,
    corrupt_records: 0,
  });
  t.equal(stats.pendingEntries, 26);

  t.equal(dump.code, 0, dump.stderr);
  const lines = dump.stdout.split('\n').map((l) => JSON.parse(l));
  t.same(
    lines.map((l) => ({ seq: l.seq, labels: l.labels, ts_ns: l.ts_ns, line: l.line, structured_metadata: l.structured_metadata })),
    Array.from({ length: 30 }, (_, i) => {
      const e = entry(i + 1);
      return { seq: i + 1, labels: e.labels, ts_ns: timestampNs(e.seconds, e.nanos), line: e.line, structured_metadata: Object.fromEntries(e.structuredMetadata) };
    }),
    'every entry as it was written, from the oldest segment',
  );
  t.match(lines[0], { segment: 1, offset: Number, appended_at: String });
});

t.test('dump starts at the cursor and stops after --limit records', async (t) => {
  const root = t.testdir();
  const store = await openWal(root);
  const alpha = store.token('alpha');
  for (let i = 1; i <= 20; i++) await alpha.append(lokiBatch([entry(i)]));
  await ackUpTo(alpha, 10);
  const cursor = alpha.cursor;
  await store.close();

  const dump = await wal('dump', join(root, 'alpha'), '--limit', '3');
  t.equal(dump.code, 0, dump.stderr);
  const lines = dump.stdout.split('\n').map((l) => JSON.parse(l));
  t.same(
    lines.map((l) => l.seq),
    [11, 12, 13],
  );
  t.match(lines[0], { segment: cursor.segment, offset: cursor.offset, line: entry(11).line });
});

t.test('verify exits 1 on damage naming where it is and what it cost, and 0 on a torn tail with a note', async (t) => {
  const build = async (root: string) => {
    const store = await openWal(root);
    const alpha = store.token('alpha');
    for (let i = 1; i <= 10; i++) await alpha.append(entries([payload(i, 300)]));
    await store.token('beta').append(entries([payload(1, 300)]));
    const { records } = await alpha.read(alpha.cursor, { maxRecords: 100, maxBytes: 1 << 20 });
    await store.close();
    return { file: join(root, 'alpha', segmentFileName(1)), fourth: records[3]!.position.offset, end: records.at(-1)!.next.offset };
  };
  const base = t.testdir();
  const damaged = join(base, 'damaged');
  const built = await build(damaged);
  const fh = await open(built.file, 'r+');
  await fh.write(Buffer.from([0xee]), 0, 1, built.fourth + 100);
  await fh.close();
  await writeFile(join(damaged, 'beta', 'cursor.json'), '{"version":1,"segment":');
  const torn = join(base, 'torn');
  await appendFile((await build(torn)).file, Buffer.alloc(90, 0xab));

  const [onDamage, onTorn] = await Promise.all([wal('verify', damaged), wal('verify', join(torn, 'alpha'))]);
  t.equal(onDamage.code, 1);
  t.match(onDamage.stdout, 'token alpha: DAMAGED, 1 entries lost');
  t.match(onDamage.stdout, `DAMAGE: segment 1 offset ${built.fourth}: 1 entry lost: CRC mismatch`);
  t.match(onDamage.stdout, 'token beta: DAMAGED');
  t.match(onDamage.stdout, 'DAMAGE: cursor unreadable: cursor file is not JSON');
  t.match(onDamage.stdout, '2 tokens checked, 2 damaged, 1 entries lost');

  t.equal(onTorn.code, 0, 'a torn tail is not damage');
  t.match(onTorn.stdout, `segment 1 offset ${built.end}: torn tail: 90 bytes, truncated at the next start`);
  t.match(onTorn.stdout, '(not locked)');
  t.match(onTorn.stdout, '1 token checked, 0 damaged, 0 entries lost');
});

t.test('verify and dump work beside a process appending, rotating and deleting segments', async (t) => {
  const root = t.testdir();
  const worker = spawnTs(WORKER, [root, 'append', '8192']);
  try {
    await worker.waitForLine(/^open$/);
    await worker.waitForLine(/^appended alpha /);
    const [verify, dump] = await Promise.all([wal('verify', root), wal('dump', root, '--token', 'beta', '--from-start', '--limit', '50')]);
    t.equal(verify.code, 0, verify.stdout);
    t.notMatch(verify.stdout, 'DAMAGE');
    t.equal(worker.proc.exitCode, null, `the writer ran throughout: ${worker.stderr()}`);
    t.match(verify.stdout, '(locked: a LogStack process is running)');
    t.equal(dump.code, 0, dump.stderr);
    const records = dump.stdout
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => 'seq' in l);
    t.ok(records.length > 0);
    t.same(
      records.map((r) => r.seq),
      Array.from({ length: records.length }, (_, i) => i + 1),
      `${records.length} records of beta from its first`,
    );
  } finally {
    worker.proc.kill('SIGKILL');
    await worker.exited;
  }
});

t.test('usage errors exit 2 with a message', async (t) => {
  const root = t.testdir();
  await (await openWal(root)).close();
  const runs = await Promise.all([wal(), wal('verify', root, '--frobnicate'), wal('stat', join(root, 'no-such-dir'))]);
  t.same(
    runs.map((r) => r.code),
    [2, 2, 2],
  );
  t.match(runs[0]!.stderr, 'wal needs a command');
  t.match(runs[1]!.stderr, 'unknown option --frobnicate for wal verify');
  t.match(runs[2]!.stderr, 'no-such-dir is not a directory');
});
