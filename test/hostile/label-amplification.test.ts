/**
 * One Loki push whose stream has the largest label set Loki accepts (15 labels of 2,000 bytes)
 * and many one-byte lines, sent to a real service process: the WAL stores the label set once,
 * not once per entry, so what the push costs on disk and in memory is a small multiple of its
 * decoded size, and the service stays responsive while it takes it. And one push of 130,000
 * entries, which once ended the process with a RangeError while its group was framed.
 *
 * Each case measures, on the service's process: the WAL's growth (its segment files), the peak
 * of its resident memory while the push is taken (VmHWM, reset just before), and the slowest
 * `/healthz` answer, asked every 50 ms throughout. Then Loki comes back and every entry must
 * arrive with its labels.
 */
import { readdir, stat, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uncompressSync } from 'snappy';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../support/child.js';
import { createLokiStandIn, lokiAnswers, referenceProtobufPush, type LokiStandIn } from '../support/loki-stand-in.js';

const CLI = fileURLToPath(new URL('../fixtures/logstack-cli.ts', import.meta.url));
const TOKEN = 'tok_hostile_0123456789abcdef';
const ADMIN = 'adm_hostile_0123456789abcdef';

/**
 * The bounds this test holds the service to, as multiples of the push's decoded (uncompressed
 * protobuf) size. On disk: one record per entry (a 24-byte head, two label-set references and
 * the entry) and the label set twice; a one-byte line is the worst case, since its entry is the
 * smallest. In memory: the decoded request and its entries as JavaScript objects, the batch
 * built for the WAL and the frames written, plus what V8 keeps when a collection comes later.
 */
const WAL_MULTIPLE = 4;
const RSS_MULTIPLE = 48;
/** Heap and allocator slack independent of the request (MiB): a GC cycle's worth on a small heap. */
const RSS_CONSTANT_MIB = 24;
const HEALTHZ_BOUND_MS = 1000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function procKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Service {
  readonly url: string;
  readonly proc: ChildProcess;
  walBytes(): Promise<number>;
  /** Starts a new peak: VmHWM is reset to the current RSS. */
  resetPeak(): void;
  peakRss(): number;
  stderr(): string;
}

async function startService(t: Test, loki: LokiStandIn, wal: Record<string, unknown> = {}): Promise<Service> {
  const dir = await mkdtemp(join(tmpdir(), 'logstack-hostile-'));
  const port = await freePort();
  const walRoot = join(dir, 'wal');
  const configFile = join(dir, 'config.yaml');
  await writeFile(
    configFile,
    stringify({
      server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 2, log_level: 'WARNING' },
      security: { admin_token: ADMIN, rate_limit_rps: 1e6, rate_limit_burst: 1e6, api_keys: { [TOKEN]: { name: 'hostile' } } },
      wal: { wal_root_path: walRoot, lock_stale_seconds: 2, ...wal },
      loki: { base_url: loki.url, batch_max_wait_ms: 5, backoff_initial_ms: 10, backoff_max_ms: 200 },
    }),
  );
  // As the launcher starts it: its first line caps the young generation, which the memory
  // figures depend on (bin/logstack.js).
  const proc = spawn(process.execPath, ['--max-semi-space-size=4', '--import', 'tsx', CLI, 'serve', '--config', configFile], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 600 || proc.exitCode !== null) throw new Error(`the service did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    proc,
    async walBytes() {
      let bytes = 0;
      for (const name of await readdir(walRoot, { recursive: true })) {
        if (name.endsWith('.wal')) bytes += (await stat(join(walRoot, name))).size;
      }
      return bytes;
    },
    resetPeak: () => writeFileSync(`/proc/${proc.pid}/clear_refs`, '5'),
    peakRss: () => procKb(proc.pid!, 'VmHWM'),
    stderr: () => stderr,
  };
}

/** Asks /healthz every 50 ms until stopped; the slowest answer, or Infinity for one that failed. */
function watchHealthz(url: string): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        slowest = Math.max(slowest, res.ok ? performance.now() - started : Infinity);
      } catch {
        slowest = Infinity;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

const BIG_LABELS = `{${Array.from({ length: 15 }, (_, i) => `l${String(i).padStart(2, '0')}="${String.fromCharCode(97 + i).repeat(2000)}"`).join(', ')}}`;

function onePush(entries: number, labels = BIG_LABELS): { body: Buffer; decodedBytes: number } {
  const base = BigInt(Date.now() - 60_000) * 1_000_000n;
  const body = referenceProtobufPush([{ labels, entries: Array.from({ length: entries }, (_, i) => ({ tsNs: (base + BigInt(i)).toString(), line: 'x' })) }]);
  return { body, decodedBytes: (uncompressSync(body, { asBuffer: true }) as Buffer).length };
}

async function pushFor(service: Service, body: Buffer): Promise<{ status: number; error: string | undefined }> {
  const res = await fetch(`${service.url}/loki/api/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-protobuf' },
    body,
  });
  const text = await res.text();
  return { status: res.status, error: text === '' ? undefined : (JSON.parse(text) as { error?: string }).error };
}

async function push(service: Service, body: Buffer): Promise<number> {
  return (await pushFor(service, body)).status;
}

async function flush(service: Service): Promise<number> {
  const res = await fetch(`${service.url}/v1/admin/flush?wait=true&timeout_seconds=60`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  await res.arrayBuffer();
  return res.status;
}

const MIB = 2 ** 20;

for (const lines of [20_000, 60_000]) {
  t.test(`15 labels of 2,000 bytes and ${lines} one-byte lines in one push cost a small multiple of the push, on disk and in memory`, async (t) => {
    const loki = createLokiStandIn();
    await loki.start();
    t.teardown(() => loki.close());
    loki.setStandingAnswer(lokiAnswers.unavailable());
    const service = await startService(t, loki);
    const { body, decodedBytes } = onePush(lines);
    // A push of the same shape first, so that what is measured is this request and not the
    // first use of the code paths (module loading, JIT, the pools of buffers).
    t.equal(await push(service, onePush(100).body), 204);

    const walBefore = await service.walBytes();
    service.resetPeak();
    const rssBefore = service.peakRss();
    const healthz = watchHealthz(service.url);
    const status = await push(service, body).finally(() => healthz.stop());
    const slowestMs = await healthz.stop();
    const walGrowth = (await service.walBytes()) - walBefore;
    const rssGrowth = service.peakRss() - rssBefore;
    t.equal(status, 204, 'the push is accepted');
    t.ok(service.proc.exitCode === null && service.proc.signalCode === null, 'the process is alive');
    t.ok(walGrowth <= WAL_MULTIPLE * decodedBytes, `WAL growth ${(walGrowth / MIB).toFixed(2)} MiB ≤ ${WAL_MULTIPLE} × the decoded ${(decodedBytes / MIB).toFixed(2)} MiB`);
    t.ok(
      rssGrowth <= RSS_MULTIPLE * decodedBytes + RSS_CONSTANT_MIB * MIB,
      `peak RSS growth ${(rssGrowth / MIB).toFixed(1)} MiB ≤ ${RSS_MULTIPLE} × the decoded size + ${RSS_CONSTANT_MIB} MiB`,
    );
    t.ok(slowestMs < HEALTHZ_BOUND_MS, `/healthz answered within ${HEALTHZ_BOUND_MS} ms throughout (slowest ${slowestMs.toFixed(0)} ms)`);

    loki.setStandingAnswer(null);
    t.equal(await flush(service), 200, 'once Loki is back, a flush delivers everything');
    const received = loki.received();
    t.equal(received.length, lines + 100, 'every entry reached Loki');
    t.ok(
      received.every((e) => Object.keys(e.labels).length === 15 && e.labels.l14 === 'o'.repeat(2000)),
      'each with its 15 labels',
    );
    t.comment(
      `${lines} lines: decoded ${(decodedBytes / 1024).toFixed(0)} KiB (${body.length} bytes as sent); WAL +${(walGrowth / MIB).toFixed(2)} MiB; ` +
        `peak RSS +${(rssGrowth / MIB).toFixed(1)} MiB; slowest /healthz ${slowestMs.toFixed(0)} ms`,
    );
  });
}

t.test('one push of 130,000 entries is taken whole; the process stays up', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const service = await startService(t, loki);
  const { body, decodedBytes } = onePush(130_000, '{app="many"}');
  const healthz = watchHealthz(service.url);
  const status = await push(service, body).finally(() => healthz.stop());
  const slowestMs = await healthz.stop();
  t.equal(status, 204, `accepted (${body.length} bytes as sent, ${decodedBytes} decoded)`);
  t.ok(service.proc.exitCode === null && service.proc.signalCode === null, `the process is alive ${service.stderr().slice(0, 400)}`);
  t.ok(slowestMs < HEALTHZ_BOUND_MS, `/healthz answered within ${HEALTHZ_BOUND_MS} ms throughout (slowest ${slowestMs.toFixed(0)} ms)`);
  t.equal(await flush(service), 200);
  t.equal(loki.received().length, 130_000, 'every entry reached Loki');
});

t.test('a push the WAL quota cannot take is refused before it is built: no WAL growth, little memory', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  loki.setStandingAnswer(lokiAnswers.unavailable());
  const service = await startService(t, loki, { token_wal_quota_bytes: MIB });
  t.equal(await push(service, onePush(100).body), 204);
  // 15,000 entries: about 0.7 MiB of WAL, within the 1 MiB quota; a second one is not.
  t.equal(await push(service, onePush(15_000).body), 204, 'a push within the quota is taken');
  const { body, decodedBytes } = onePush(60_000);
  const walBefore = await service.walBytes();
  service.resetPeak();
  const rssBefore = service.peakRss();
  const refused = await pushFor(service, body);
  const rssGrowth = service.peakRss() - rssBefore;
  t.same(refused, { status: 429, error: 'wal_quota_exceeded' }, 'refused with 429 wal_quota_exceeded');
  t.equal(await service.walBytes(), walBefore, 'nothing of it was written');
  t.ok(
    rssGrowth <= RSS_MULTIPLE * decodedBytes + RSS_CONSTANT_MIB * MIB,
    `peak RSS growth ${(rssGrowth / MIB).toFixed(1)} MiB ≤ ${RSS_MULTIPLE} × the decoded size + ${RSS_CONSTANT_MIB} MiB (the batch is refused as it is built, at the quota)`,
  );
  t.same(await pushFor(service, onePush(15_000).body), { status: 429, error: 'wal_quota_exceeded' }, 'the quota holds for the next push too');
  loki.setStandingAnswer(null);
  t.equal(await flush(service), 200);
  t.equal(loki.received().length, 15_100, 'what was accepted is delivered; nothing of the refused pushes');
});
