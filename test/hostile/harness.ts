/**
 * The adversarial suite's measuring harness: a real LogStack process (the CLI, from the
 * TypeScript sources) watched from outside while a hostile request runs.
 *
 *   const service = await startHostileService(t, { config: { limits: { max_body_bytes: 65536 } } });
 *   const run = await service.measure(() => send(...));
 *   t.ok(run.alive); t.ok(run.healthMaxMs < 1000); t.ok(run.peakRssGrowthBytes < 8 * decodedBytes);
 *
 * `measure` resets the process's peak RSS (VmHWM, via /proc/<pid>/clear_refs) and probes
 * `/healthz` every 100 ms on a fresh connection, each probe with a 1 s deadline, for as long as
 * the attack runs. The figures: peak RSS growth over the RSS before, WAL growth (bytes of every
 * file under the WAL root), the slowest probe, the probes that failed, whether the process is
 * alive at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { TS_NODE_ARGS } from '../support/child.js';

export const HOSTILE_TOKEN = 'tok_hostile_0123456789abcdef';
export const HOSTILE_ADMIN_TOKEN = 'adm_hostile_0123456789abcdef';
/** The key's name: its WAL directory and metrics label. */
export const HOSTILE_KEY = 'tenant-a';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO, 'test/fixtures/logstack-cli.ts');
const PROBE_EVERY_MS = 100;
const PROBE_DEADLINE_MS = 1000;

export interface HostileServiceOptions {
  /** Config sections merged over the harness's (one section deep). */
  readonly config?: Record<string, Record<string, unknown>>;
  /** Node flags of the service process, e.g. `--max-old-space-size=160` as the StatefulSet ships. */
  readonly nodeArgs?: readonly string[];
}

export interface Measured<T> {
  readonly result: T;
  /** Peak RSS during the attack over the RSS before it. */
  readonly peakRssGrowthBytes: number;
  /** Bytes of files under the WAL root after, less before. */
  readonly walGrowthBytes: number;
  /** The slowest /healthz probe (ms); a failed probe counts as its deadline. */
  readonly healthMaxMs: number;
  readonly healthProbes: number;
  readonly healthFailures: number;
  readonly alive: boolean;
}

export interface HostileService {
  /** Ms from spawning the process to its first /healthz 200. */
  readonly startedInMs: number;
  readonly url: string;
  readonly port: number;
  readonly walRoot: string;
  readonly pid: number;
  alive(): boolean;
  rssBytes(): number;
  /** Bytes of every file under the WAL root. */
  walBytes(): number;
  /** The service's stdout and stderr so far. */
  output(): string;
  /** `probeDeadlineMs`: how long a `/healthz` probe may take before it counts as failed (1 s). */
  measure<T>(attack: () => Promise<T>, probeDeadlineMs?: number): Promise<Measured<T>>;
  /** Kills it with SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same config and WAL; resolves with the ms until /healthz answered 200. */
  restart(): Promise<number>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

function treeBytes(dir: string): number {
  let bytes = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const stat = statSync(path);
      bytes += stat.isDirectory() ? treeBytes(path) : stat.size;
    } catch {
      // Deleted meanwhile (a delivered segment).
    }
  }
  return bytes;
}

/** One GET on a fresh connection: its status, or 0 when it failed or missed the deadline. */
export function probe(url: string, path = '/healthz', deadlineMs = PROBE_DEADLINE_MS): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { agent: false, timeout: deadlineMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

export async function startHostileService(t: Test, options: HostileServiceOptions = {}): Promise<HostileService> {
  const dir = await mkdtemp(join(tmpdir(), 'logstack-hostile-'));
  const port = await freePort();
  const walRoot = join(dir, 'wal');
  const sections: Record<string, Record<string, unknown>> = {
    server: { host: '127.0.0.1', port, log_level: 'WARN', shutdown_timeout_seconds: 1 },
    security: { admin_token: HOSTILE_ADMIN_TOKEN, api_keys: { [HOSTILE_TOKEN]: { name: HOSTILE_KEY } } },
    wal: { wal_root_path: walRoot, disk_reserve_percent: 0 },
    // Nothing listens there: delivery fails fast and retries, the WAL keeps what is accepted.
    loki: { base_url: 'http://127.0.0.1:9', backoff_initial_ms: 1000, backoff_max_ms: 5000 },
  };
  for (const [section, values] of Object.entries(options.config ?? {})) sections[section] = { ...sections[section], ...values };
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify(sections));
  const url = `http://127.0.0.1:${port}`;

  let child: ChildProcess;
  let output = '';
  const launch = async (): Promise<number> => {
    const startedAt = performance.now();
    child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...TS_NODE_ARGS, CLI, 'serve', '--config', configFile], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited at start: ${output}`);
      if ((await probe(url, '/healthz', 500)) === 200) return performance.now() - startedAt;
      if (performance.now() - startedAt > 60_000) throw new Error(`the service did not answer /healthz within 60 s: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const isAlive = () => child.exitCode === null && child.signalCode === null;
  const exited = () => (isAlive() ? new Promise<void>((resolve) => child.once('exit', () => resolve())) : Promise.resolve());

  const startedInMs = await launch();
  t.teardown(async () => {
    if (isAlive()) child.kill('SIGKILL');
    await exited();
    await rm(dir, { recursive: true, force: true });
  });

  return {
    startedInMs,
    url,
    port,
    walRoot,
    get pid() {
      return child.pid!;
    },
    alive: isAlive,
    rssBytes: () => procStatusBytes(child.pid!, 'VmRSS'),
    walBytes: () => treeBytes(walRoot),
    output: () => output,
    async measure(attack, probeDeadlineMs = PROBE_DEADLINE_MS) {
      const pid = child.pid!;
      const rssBefore = procStatusBytes(pid, 'VmRSS');
      const walBefore = treeBytes(walRoot);
      try {
        // Resets VmHWM to the current RSS (Linux 4.0+).
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
      } catch {
        // Then the peak is the process's whole life: a coarser, still valid, upper bound.
      }
      let peakSampled = rssBefore;
      const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, procStatusBytes(pid, 'VmRSS'))), 20);
      let probing = true;
      let healthMaxMs = 0;
      let healthProbes = 0;
      let healthFailures = 0;
      const prober = (async () => {
        while (probing) {
          const startedAt = performance.now();
          const status = await probe(url, '/healthz', probeDeadlineMs);
          const ms = performance.now() - startedAt;
          healthProbes++;
          if (status !== 200) healthFailures++;
          healthMaxMs = Math.max(healthMaxMs, status === 200 ? ms : probeDeadlineMs);
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, PROBE_EVERY_MS - ms)));
        }
      })();
      let result: Awaited<ReturnType<typeof attack>>;
      try {
        result = await attack();
        // One probe after the attack, so that a short attack is probed too.
        const status = await probe(url, '/healthz', probeDeadlineMs);
        healthProbes++;
        if (status !== 200) healthFailures++;
      } finally {
        probing = false;
        clearInterval(sampler);
        await prober;
      }
      const peak = Math.max(peakSampled, procStatusBytes(pid, 'VmHWM'));
      return {
        result,
        peakRssGrowthBytes: Math.max(0, peak - rssBefore),
        walGrowthBytes: treeBytes(walRoot) - walBefore,
        healthMaxMs,
        healthProbes,
        healthFailures,
        alive: isAlive(),
      };
    },
    async kill() {
      if (isAlive()) child.kill('SIGKILL');
      await exited();
    },
    async restart() {
      if (isAlive()) throw new TypeError('restart: the service is still running');
      return launch();
    },
  };
}

export const MIB = 2 ** 20;

/** MiB, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

// --- bodies --------------------------------------------------------------------------------

export interface PushStreamSpec {
  /** Prometheus text: `{app="shop"}`. */
  readonly labels: string;
  readonly entries: ReadonlyArray<{ readonly seconds: number; readonly nanos?: number; readonly line: string; readonly metadata?: ReadonlyArray<readonly [string, string]> }>;
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(payload.length)]), payload]);
}

function varintField(number: number, value: number): Buffer {
  return Buffer.from([number << 3, ...varint(value)]);
}

/**
 * A `logproto.PushRequest` as Loki clients encode it (uncompressed; snappy-compress it for
 * `application/x-protobuf`). Written here, not with LogStack's encoder, so that a bug there
 * cannot hide one in the decoder.
 */
export function protobufPush(streams: readonly PushStreamSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const stream of streams) {
    const body: Buffer[] = [field(1, Buffer.from(stream.labels))];
    for (const entry of stream.entries) {
      const timestamp = Buffer.concat([varintField(1, entry.seconds), varintField(2, entry.nanos ?? 0)]);
      const pairs = (entry.metadata ?? []).map(([name, value]) => field(3, Buffer.concat([field(1, Buffer.from(name)), field(2, Buffer.from(value))])));
      body.push(field(2, Buffer.concat([field(1, timestamp), field(2, Buffer.from(entry.line)), ...pairs])));
    }
    parts.push(field(1, Buffer.concat(body)));
  }
  return Buffer.concat(parts);
}

/** Seconds since the epoch, now: a timestamp LogStack's window accepts. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
