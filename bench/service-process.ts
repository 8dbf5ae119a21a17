/**
 * The built service (dist/, `npm run build`) in a child process, as a user runs it, with a
 * generated config: what the load generator measures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const BENCH_TOKEN = 'bench_token_0123456789abcdef';
const ADMIN_TOKEN = 'bench_admin_0123456789abcdef';
const REPO = fileURLToPath(new URL('../', import.meta.url));

export interface ServiceProcess {
  readonly url: string;
  readonly pid: number;
  readonly walDir: string;
  /** Peak resident memory so far (VmHWM), bytes. */
  peakRssBytes(): number;
  rssBytes(): number;
  /** Anonymous resident memory (RssAnon): RSS without the mapped files (the node binary). */
  anonRssBytes(): number;
  /** Bytes of the token's segment files. */
  walBytes(): number;
  metrics(): Promise<string>;
  flush(): Promise<unknown>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function procStatus(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface ServiceOptions {
  lokiUrl: string;
  loki?: Record<string, unknown>;
  /** Keys of the `wal` section beside the bench's own. */
  wal?: Record<string, unknown>;
  /** Where the service's directory (config and WAL) is made; the system's temporary directory by default. */
  parentDir?: string;
  /** Variables added to the service's environment. */
  env?: Record<string, string>;
  cpuProfileDir?: string;
}

export async function startService(opts: ServiceOptions): Promise<ServiceProcess> {
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'logstack-bench-'));
  const port = await freePort();
  const walDir = join(dir, 'wal');
  const config = {
    server: { host: '127.0.0.1', port, log_level: 'INFO' },
    security: { rate_limit_rps: 1e6, rate_limit_burst: 1e6, admin_token: ADMIN_TOKEN, api_keys: { [BENCH_TOKEN]: { name: 'bench' } } },
    wal: { wal_root_path: walDir, sync: true, disk_reserve_percent: 1, ...opts.wal },
    loki: { base_url: opts.lokiUrl, ...opts.loki },
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(config));
  // The launcher itself, as `npm start` and the container run it: its first line holds node flags.
  const child: ChildProcess = spawn(join(REPO, 'bin/logstack.js'), ['serve', '--config', join(dir, 'config.yaml')], {
    cwd: REPO,
    env: { ...process.env, ...opts.env, ...(opts.cpuProfileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${opts.cpuProfileDir}` } : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 200 || child.exitCode !== null) throw new Error('the service did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const tokenDir = join(walDir, 'bench');
  return {
    url,
    pid: child.pid!,
    walDir,
    peakRssBytes: () => procStatus(child.pid!, 'VmHWM'),
    rssBytes: () => procStatus(child.pid!, 'VmRSS'),
    anonRssBytes: () => procStatus(child.pid!, 'RssAnon'),
    walBytes: () => readdirSync(tokenDir).filter((f) => f.endsWith('.wal')).reduce((n, f) => n + statSync(join(tokenDir, f)).size, 0),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    flush: async () => (await fetch(`${url}/v1/admin/flush?wait=true`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json(),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shared sample batch with timestamps moved to now (keeping their spacing), as a body. */
export function sampleBody(): { body: string; entries: number } {
  const file = new URL('../test/fixtures/samples/ingest-100.json', import.meta.url);
  const sample = JSON.parse(readFileSync(file, 'utf8')) as { entries: Array<{ timestamp: string }> };
  const first = Date.parse(sample.entries[0]!.timestamp);
  const base = Date.now() - 60_000;
  for (const e of sample.entries) e.timestamp = new Date(base + Date.parse(e.timestamp) - first).toISOString().replace('Z', '123456Z');
  return { body: JSON.stringify(sample), entries: sample.entries.length };
}

/**
 * A quantile from a Prometheus histogram's cumulative buckets, by linear interpolation, over
 * the series whose labels contain `labelFilter` (e.g. `route="/v1/logs:ingest"`).
 */
export function histogramQuantile(metricsText: string, name: string, q: number, labelFilter = ''): number {
  const buckets: Array<[number, number]> = [];
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, 'gm');
  const sums = new Map<number, number>();
  for (let m = re.exec(metricsText); m; m = re.exec(metricsText)) {
    const labels = m[1]!;
    const leText = /(?:^|,)le="([^"]+)"/.exec(labels)?.[1];
    if (leText === undefined || !labels.includes(labelFilter)) continue;
    const le = leText === '+Inf' ? Infinity : Number(leText);
    sums.set(le, (sums.get(le) ?? 0) + Number(m[2]));
  }
  for (const [le, c] of [...sums.entries()].sort((a, b) => a[0] - b[0])) buckets.push([le, c]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
