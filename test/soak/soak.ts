/**
 * The soak: LogStack run as a user runs it (`logstack serve --config …` in a child process,
 * fsync on), fed at a steady rate for a long time while Loki goes down, rate-limits, slows and
 * refuses on a schedule. It checks what an operator must be able to count on over hours, not
 * seconds: nothing acknowledged is lost, the WAL's disk usage comes back down after each
 * outage, and memory and event-loop delay do not creep.
 *
 * Every few seconds it samples the service process from the outside: resident memory from
 * /proc, the event-loop delay from prom-client's `nodejs_eventloop_lag_*` gauges on /metrics
 * (computed over the time since the previous scrape), the segment bytes of each key's WAL
 * directory, and the backlog gauges. At the end it stops the load, flushes, stops the service
 * with SIGTERM and checks every acknowledged id against what Loki received and what is in the
 * dead-letter store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { tokenDirName } from '../../src/wal/token-dir.js';
import { TS_NODE_ARGS } from '../support/child.js';
import { readEntryId } from './entry-id.js';
import { faultSchedule, outagesOf, type FaultKind, type FaultPhase } from './fault-schedule.js';
import { DEAD_LETTERED, IdLedger, type LedgerTally } from './id-ledger.js';
import { startLokiReceiver, type LokiReceiver, type ReceiverCounts } from './loki-receiver.js';
import { startLoad, type Load, type LoadCounts, type SoakKey } from './soak-load.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN = 'adm_soak_0123456789abcdefghij';
const MiB = 1024 * 1024;
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface SoakOptions {
  readonly durationMs: number;
  /** Across all keys. */
  readonly entriesPerSecond: number;
  readonly keys: number;
  /** `built`: bin/logstack.js over dist/ (build first), as a user runs it; `source`: the TypeScript sources. */
  readonly service?: 'built' | 'source';
  readonly sampleIntervalMs?: number;
  /**
   * `wal.segment_max_bytes`. Under steady load the active segment fills before it rotates, so a
   * key's WAL normally holds up to about two segments; small segments make "back to near zero"
   * measurable. Default 4 MiB.
   */
  readonly segmentMaxBytes?: number;
  /** A key's WAL counts as back to near zero at or under this; default two segments. */
  readonly nearZeroBytesPerKey?: number;
  /** `loki.backoff_max_ms`; LogStack's default (30 s) unless a short run needs faster recovery. */
  readonly backoffMaxMs?: number;
  /** Progress: the table's header, then a row per minute. */
  readonly log?: (line: string) => void;
}

export interface SoakSample {
  /** Since the load started. */
  readonly tMs: number;
  readonly phase: FaultKind;
  readonly rssBytes: number;
  /** User + system CPU of the service since the load started. */
  readonly serviceCpuSeconds: number;
  /** Of the driver (load, Loki receiver, sampling) since the load started. */
  readonly driverCpuSeconds: number;
  /** p99 and max of the event-loop delay since the previous sample. */
  readonly eventLoopP99Ms: number;
  readonly eventLoopMaxMs: number;
  /** Segment file bytes per key. */
  readonly walBytes: readonly number[];
  readonly backlogEntries: number;
  readonly backlogBytes: number;
  readonly acknowledged: number;
  readonly received: number;
  /** The machine's 1-minute load average: other work on the same cores shows in the delays. */
  readonly loadAverage: number;
}

export interface MinuteRow {
  readonly minute: number;
  readonly faults: string;
  readonly acknowledgedPerSecond: number;
  readonly receivedPerSecond: number;
  readonly rssMaxMiB: number;
  readonly serviceCpuPercent: number;
  readonly eventLoopP99WorstMs: number;
  readonly eventLoopMaxMs: number;
  readonly walMaxMiB: number;
  readonly backlogMaxEntries: number;
  readonly loadAverage: number;
}

export interface OutageRecovery {
  readonly cycle: number;
  readonly startS: number;
  readonly endS: number;
  /** The most the WAL (all keys) held from the outage's start until it was back near zero. */
  readonly peakWalBytes: number;
  /** From the outage's end until every key's WAL was at or under `nearZeroBytesPerKey`; null if not while the load ran. */
  readonly backToNearZeroS: number | null;
}

export interface SoakResult {
  readonly options: {
    readonly durationMs: number;
    readonly entriesPerSecond: number;
    readonly keys: number;
    readonly service: 'built' | 'source';
    readonly segmentMaxBytes: number;
    readonly nearZeroBytesPerKey: number;
    readonly sampleIntervalMs: number;
  };
  readonly load: LoadCounts;
  readonly loki: ReceiverCounts;
  /** Over all keys; a lost id as `k<key> <id>`. */
  readonly ids: Omit<LedgerTally, 'lostSample'> & { readonly lostSample: readonly string[] };
  readonly outages: readonly OutageRecovery[];
  readonly rss: {
    readonly firstWindowMedianBytes: number;
    readonly lastWindowMedianBytes: number;
    readonly maxBytes: number;
    /** VmHWM just before SIGTERM. */
    readonly peakBytes: number;
    /** Least-squares slope over the samples after warm-up. */
    readonly slopeBytesPerMinute: number;
    readonly windows: { readonly warmupS: number; readonly windowS: number };
  };
  readonly eventLoop: { readonly p99MedianMs: number; readonly p99WorstMs: number; readonly maxMs: number };
  readonly flush: { readonly status: number; readonly ms: number };
  /** WAL bytes per key after the final flush. */
  readonly finalWalBytes: readonly number[];
  readonly exit: { readonly code: number | null; readonly signal: string | null };
  /** The service's own warnings and errors, by message. */
  readonly serviceLog: { readonly warn: Record<string, number>; readonly error: Record<string, number> };
  readonly minutes: readonly MinuteRow[];
  readonly samples: readonly SoakSample[];
  readonly verdict: {
    readonly nothingLost: boolean;
    readonly walBackToNearZero: boolean;
    readonly noIngestFailures: boolean;
    readonly cleanStop: boolean;
    readonly pass: boolean;
  };
  readonly durationMs: number;
}

interface ServiceChild {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly log: { warn: Record<string, number>; error: Record<string, number> };
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `promise`, or `onTimeout()` after `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function startService(configFile: string, kind: 'built' | 'source'): Promise<ServiceChild> {
  // Built, the launcher is executed as `npm start` does it: its first line holds node flags.
  const [command, ...entry] = kind === 'built' ? [join(REPO, 'bin/logstack.js')] : [process.execPath, ...TS_NODE_ARGS, 'test/fixtures/logstack-cli.ts'];
  const proc = spawn(command!, [...entry, 'serve', '--config', configFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = { warn: {} as Record<string, number>, error: {} as Record<string, number> };
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const url = new Promise<string>((resolve, reject) => {
    let partial = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const level = Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 0);
        if (level < 30 || (level === 30 && !line.includes('LogStack is serving'))) continue;
        const record = JSON.parse(line) as { msg?: string; address?: string };
        if (level === 30) resolve(record.address!);
        else {
          const bucket = level >= 50 ? log.error : log.warn;
          bucket[record.msg ?? '?'] = (bucket[record.msg ?? '?'] ?? 0) + 1;
        }
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`the service exited (${code ?? signal}) before serving; stderr: ${stderr}`)));
  });
  try {
    const address = await within(url, 60_000, () => {
      throw new Error(`the service did not serve within 60 s; stderr: ${stderr}`);
    });
    return { proc, url: address, log, exited };
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
}

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

function procCpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses; utime and stime are the 14th and 15th.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

async function segmentBytes(dir: string): Promise<number> {
  let total = 0;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.wal')) continue;
    try {
      total += (await stat(join(dir, name))).size;
    } catch {
      // Deleted between readdir and stat: a delivered segment going away.
    }
  }
  return total;
}

function gauge(metrics: string, name: string): number {
  let total = 0;
  let found = false;
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
  for (let m = re.exec(metrics); m; m = re.exec(metrics)) {
    total += Number(m[1]);
    found = true;
  }
  return found ? total : NaN;
}

async function markDeadLetters(walRoot: string, keys: readonly SoakKey[]): Promise<void> {
  const parsed = { key: 0, id: 0 };
  for (const key of keys) {
    const dir = join(walRoot, tokenDirName(key.name), 'dead-letter');
    let files: string[] = [];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
    } catch {
      continue;
    }
    for (const file of files) {
      for (const text of (await readFile(join(dir, file), 'utf8')).split('\n')) {
        if (text === '') continue;
        for (const e of (JSON.parse(text) as { entries: Array<{ line: string }> }).entries) {
          const line = Buffer.from(e.line, 'utf8');
          if (readEntryId(line, 0, line.length, parsed) && parsed.key === key.index) key.ledger.mark(parsed.id, DEAD_LETTERED);
        }
      }
    }
  }
}

function applyFault(loki: LokiReceiver, kind: FaultKind): void {
  if (kind === 'outage-503') loki.setMode({ kind: 'unavailable' });
  else if (kind === 'outage-reset') loki.setMode({ kind: 'reset' });
  else if (kind === 'rate-limited') loki.setMode({ kind: 'rate-limited', retryAfterSeconds: 1 });
  else if (kind === 'slow') loki.setMode({ kind: 'slow', minMs: 1000, maxMs: 2000 });
  else {
    loki.setMode({ kind: 'accept' });
    if (kind === 'refuse-400') loki.refuseNext(3);
  }
}

const FAULT_LABEL: Record<FaultKind, string> = {
  accept: '',
  'outage-503': '503',
  'outage-reset': 'reset',
  'rate-limited': '429',
  slow: 'slow',
  'refuse-400': '400',
};

const median = (values: readonly number[]): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const max = (values: readonly number[]): number => {
  const read = values.filter((v) => !Number.isNaN(v));
  return read.length === 0 ? NaN : Math.max(...read);
};
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

function slopePerMinute(points: ReadonlyArray<readonly [number, number]>): number {
  if (points.length < 2) return NaN;
  const mx = sum(points.map(([x]) => x)) / points.length;
  const my = sum(points.map(([, y]) => y)) / points.length;
  const sxy = sum(points.map(([x, y]) => (x - mx) * (y - my)));
  const sxx = sum(points.map(([x]) => (x - mx) ** 2));
  return sxx === 0 ? NaN : (sxy / sxx) * 60_000;
}

/** One row per started minute of the load. */
function minuteRows(samples: readonly SoakSample[], schedule: readonly FaultPhase[], durationMs: number): MinuteRow[] {
  const rows: MinuteRow[] = [];
  let previous: SoakSample | undefined;
  // The sample taken once the load has stopped belongs to the last minute.
  const minuteOf = (s: SoakSample): number => Math.floor(Math.min(s.tMs, durationMs - 1) / 60_000);
  const minutes = new Set(samples.map(minuteOf));
  for (const minute of [...minutes].sort((a, b) => a - b)) {
    const inMinute = samples.filter((s) => minuteOf(s) === minute);
    const last = inMinute.at(-1)!;
    const from = previous ?? { tMs: 0, acknowledged: 0, received: 0, serviceCpuSeconds: 0 };
    const seconds = Math.max(0.001, (last.tMs - from.tMs) / 1000);
    const faults = [
      ...new Set(schedule.filter((p) => p.startMs < (minute + 1) * 60_000 && p.endMs > minute * 60_000).map((p) => FAULT_LABEL[p.kind])),
    ].filter((f) => f !== '');
    rows.push({
      minute,
      faults: faults.join(' '),
      acknowledgedPerSecond: (last.acknowledged - from.acknowledged) / seconds,
      receivedPerSecond: (last.received - from.received) / seconds,
      rssMaxMiB: max(inMinute.map((s) => s.rssBytes)) / MiB,
      serviceCpuPercent: ((last.serviceCpuSeconds - from.serviceCpuSeconds) / seconds) * 100,
      eventLoopP99WorstMs: max(inMinute.map((s) => s.eventLoopP99Ms)),
      eventLoopMaxMs: max(inMinute.map((s) => s.eventLoopMaxMs)),
      walMaxMiB: max(inMinute.map((s) => sum(s.walBytes))) / MiB,
      backlogMaxEntries: max(inMinute.map((s) => s.backlogEntries)),
      loadAverage: last.loadAverage,
    });
    previous = last;
  }
  return rows;
}

const COLUMNS: ReadonlyArray<readonly [string, number, (r: MinuteRow) => string]> = [
  ['min', 4, (r) => String(r.minute)],
  ['faults', 20, (r) => r.faults || '-'],
  ['ack/s', 8, (r) => r.acknowledgedPerSecond.toFixed(0)],
  ['loki/s', 8, (r) => r.receivedPerSecond.toFixed(0)],
  ['RSS MiB', 8, (r) => r.rssMaxMiB.toFixed(0)],
  ['CPU %', 6, (r) => r.serviceCpuPercent.toFixed(0)],
  ['EL p99 ms', 10, (r) => r.eventLoopP99WorstMs.toFixed(1)],
  ['EL max ms', 10, (r) => r.eventLoopMaxMs.toFixed(0)],
  ['WAL MiB', 8, (r) => r.walMaxMiB.toFixed(1)],
  ['backlog', 9, (r) => r.backlogMaxEntries.toFixed(0)],
  ['load', 5, (r) => r.loadAverage.toFixed(1)],
];

function tableHeader(): string {
  return COLUMNS.map(([title, width], i) => (i === 1 ? title.padEnd(width) : title.padStart(width))).join(' ');
}

function tableRow(row: MinuteRow): string {
  return COLUMNS.map(([, width, cell], i) => (i === 1 ? cell(row).padEnd(width) : cell(row).padStart(width))).join(' ');
}

/** Runs the soak; rejects only on a fault of the harness itself (or a service that never serves). */
export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const began = Date.now();
  const kind = opts.service ?? 'built';
  const sampleIntervalMs = opts.sampleIntervalMs ?? 5000;
  const segmentMaxBytes = opts.segmentMaxBytes ?? 4 * MiB;
  const nearZeroBytesPerKey = opts.nearZeroBytesPerKey ?? 2 * segmentMaxBytes;
  const log = opts.log ?? (() => {});
  const keys: SoakKey[] = Array.from({ length: opts.keys }, (_, index) => ({
    index,
    name: `soak-${index}`,
    token: `tok_soak_${index}_0123456789abcdefghij`,
    tenant: `tenant-${index}`,
    ledger: new IdLedger(),
  }));
  const loki = await startLokiReceiver({ tenants: keys.map((k) => k.tenant), ledgers: keys.map((k) => k.ledger) });
  const dir = await mkdtemp(join(tmpdir(), 'logstack-soak-'));
  const walRoot = join(dir, 'wal');
  const configFile = join(dir, 'config.yaml');
  await writeFile(
    configFile,
    stringify({
      server: { host: '127.0.0.1', port: 0, log_level: 'INFO' },
      security: {
        admin_token: ADMIN,
        api_keys: Object.fromEntries(keys.map((k) => [k.token, { name: k.name, tenant: k.tenant }])),
      },
      wal: { wal_root_path: walRoot, sync: true, segment_max_bytes: segmentMaxBytes },
      loki: { base_url: loki.url, ...(opts.backoffMaxMs === undefined ? {} : { backoff_max_ms: opts.backoffMaxMs }) },
    }),
  );
  const timers: NodeJS.Timeout[] = [];
  let service: ServiceChild | undefined;
  let load: Load | undefined;
  try {
    service = await startService(configFile, kind);
    const { url, proc } = service;
    const pid = proc.pid!;
    const admin = { authorization: `Bearer ${ADMIN}` };
    // A service that died mid-run shows as NaN samples, failed requests and its exit code.
    const scrape = (): Promise<string> => fetch(`${url}/metrics`).then((res) => res.text(), () => '');
    const walBytesPerKey = (): Promise<number[]> => Promise.all(keys.map((k) => segmentBytes(join(walRoot, tokenDirName(k.name)))));

    const schedule = faultSchedule(opts.durationMs);
    // The first scrape resets the event-loop histogram, so the first sample covers the load only.
    await scrape();
    const cpuAtStart = process.cpuUsage();
    const serviceCpuAtStart = procCpuSeconds(pid);
    const t0 = performance.now();
    const phaseAt = (tMs: number): FaultKind => schedule.find((p) => tMs >= p.startMs && tMs < p.endMs)?.kind ?? 'accept';
    for (const phase of schedule) timers.push(setTimeout(() => applyFault(loki, phase.kind), phase.startMs));
    const running = startLoad({ url, keys, entriesPerSecond: opts.entriesPerSecond });
    load = running;

    const samples: SoakSample[] = [];
    const takeSample = async (): Promise<SoakSample> => {
      const metrics = await scrape();
      const tMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpuAtStart);
      return {
        tMs,
        phase: phaseAt(tMs),
        rssBytes: procStatusBytes(pid, 'VmRSS'),
        serviceCpuSeconds: procCpuSeconds(pid) - serviceCpuAtStart,
        driverCpuSeconds: (cpu.user + cpu.system) / 1e6,
        eventLoopP99Ms: gauge(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
        eventLoopMaxMs: gauge(metrics, 'nodejs_eventloop_lag_max_seconds') * 1000,
        walBytes: await walBytesPerKey(),
        backlogEntries: gauge(metrics, 'wal_pending_entries'),
        backlogBytes: gauge(metrics, 'wal_backlog_bytes'),
        acknowledged: running.counts.acknowledged,
        received: loki.counts.entries,
        loadAverage: loadavg()[0]!,
      };
    };
    log(tableHeader());
    let loggedMinutes = 0;
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(async () => {
        const sample = await takeSample();
        samples.push(sample);
        const completeMinutes = Math.floor(sample.tMs / 60_000);
        if (completeMinutes > loggedMinutes) {
          for (const row of minuteRows(samples, schedule, opts.durationMs).filter((r) => r.minute >= loggedMinutes && r.minute < completeMinutes)) log(tableRow(row));
          loggedMinutes = completeMinutes;
        }
      });
    }, sampleIntervalMs);
    timers.push(sampler);
    await sleep(opts.durationMs);
    clearInterval(sampler);
    await sampling;
    await running.stop();
    samples.push(await takeSample());
    const loadMs = performance.now() - t0;
    for (const row of minuteRows(samples, schedule, opts.durationMs).filter((r) => r.minute >= loggedMinutes)) log(tableRow(row));

    loki.setMode({ kind: 'accept' });
    const flushStarted = performance.now();
    const flushStatus = await fetch(`${url}/v1/admin/flush?wait=true&timeout_seconds=300`, { method: 'POST', headers: admin }).then(
      async (res) => (await res.arrayBuffer(), res.status),
      () => 0,
    );
    const flush = { status: flushStatus, ms: performance.now() - flushStarted };
    const finalWalBytes = await walBytesPerKey();
    const peakBytes = procStatusBytes(pid, 'VmHWM');
    proc.kill('SIGTERM');
    const exit = await within(service.exited, 120_000, () => ({ code: null, signal: 'no exit within 120 s' }));

    await markDeadLetters(walRoot, keys);
    const tallies = keys.map((k) => k.ledger.tally());
    const ids = {
      issued: sum(tallies.map((t) => t.issued)),
      acknowledged: sum(tallies.map((t) => t.acknowledged)),
      received: sum(tallies.map((t) => t.received)),
      lost: sum(tallies.map((t) => t.lost)),
      lostSample: tallies.flatMap((t, k) => t.lostSample.map((id) => `k${k} ${id}`)).slice(0, 10),
      deadLettered: sum(tallies.map((t) => t.deadLettered)),
      refusedNotDeadLettered: sum(tallies.map((t) => t.refusedNotDeadLettered)),
      receivedUnacknowledged: sum(tallies.map((t) => t.receivedUnacknowledged)),
    };

    const outages = outagesOf(schedule).map((o): OutageRecovery => {
      const back = samples.find((s) => s.tMs >= o.endMs && s.walBytes.every((b) => b <= nearZeroBytesPerKey));
      const during = samples.filter((s) => s.tMs >= o.startMs && s.tMs <= (back?.tMs ?? loadMs));
      return {
        cycle: o.cycle,
        startS: o.startMs / 1000,
        endS: o.endMs / 1000,
        peakWalBytes: max(during.map((s) => sum(s.walBytes))),
        backToNearZeroS: back === undefined ? null : (back.tMs - o.endMs) / 1000,
      };
    });

    const warmupMs = Math.min(60_000, opts.durationMs / 6);
    const windowMs = Math.min(300_000, opts.durationMs / 3);
    const afterWarmup = samples.filter((s) => s.tMs >= warmupMs);
    const rss = {
      firstWindowMedianBytes: median(afterWarmup.filter((s) => s.tMs < warmupMs + windowMs).map((s) => s.rssBytes)),
      lastWindowMedianBytes: median(samples.filter((s) => s.tMs >= opts.durationMs - windowMs).map((s) => s.rssBytes)),
      maxBytes: max(samples.map((s) => s.rssBytes)),
      peakBytes,
      slopeBytesPerMinute: slopePerMinute(afterWarmup.map((s) => [s.tMs, s.rssBytes] as const)),
      windows: { warmupS: warmupMs / 1000, windowS: windowMs / 1000 },
    };
    const p99s = samples.map((s) => s.eventLoopP99Ms);
    const failures = sum(Object.values(running.counts.failures));
    const nothingLost = ids.lost === 0 && ids.refusedNotDeadLettered === 0 && loki.counts.misrouted === 0 && loki.counts.malformed === 0;
    const walBackToNearZero = outages.every((o) => o.backToNearZeroS !== null) && finalWalBytes.every((b) => b <= nearZeroBytesPerKey);
    const cleanStop = flush.status === 200 && exit.code === 0;
    return {
      options: {
        durationMs: opts.durationMs,
        entriesPerSecond: opts.entriesPerSecond,
        keys: opts.keys,
        service: kind,
        segmentMaxBytes,
        nearZeroBytesPerKey,
        sampleIntervalMs,
      },
      load: running.counts,
      loki: loki.counts,
      ids,
      outages,
      rss,
      eventLoop: { p99MedianMs: median(p99s), p99WorstMs: max(p99s), maxMs: max(samples.map((s) => s.eventLoopMaxMs)) },
      flush,
      finalWalBytes,
      exit,
      serviceLog: service.log,
      minutes: minuteRows(samples, schedule, opts.durationMs),
      samples,
      verdict: { nothingLost, walBackToNearZero, noIngestFailures: failures === 0, cleanStop, pass: nothingLost && walBackToNearZero && failures === 0 && cleanStop },
      durationMs: Date.now() - began,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await load?.stop();
    if (service !== undefined && service.proc.exitCode === null && service.proc.signalCode === null) {
      service.proc.kill('SIGKILL');
      await service.exited;
    }
    await loki.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const mib = (bytes: number): string => (bytes < 10 * MiB ? `${(bytes / MiB).toFixed(2)} MiB` : `${(bytes / MiB).toFixed(0)} MiB`);

/** The verdict, a line each. */
export function verdictLines(r: SoakResult): string[] {
  const outages = r.outages
    .map((o) => `${o.endS.toFixed(0)} s: peak ${mib(o.peakWalBytes)}, back in ${o.backToNearZeroS === null ? 'never' : `≤ ${o.backToNearZeroS.toFixed(0)} s`}`)
    .join('; ');
  const failures = Object.entries(r.load.failures).map(([k, n]) => `${k}×${n}`).join(' ');
  const warnings = Object.entries({ ...r.serviceLog.warn, ...r.serviceLog.error }).map(([msg, n]) => `${n}× ${msg}`).join('; ');
  return [
    `nothing lost: ${r.verdict.nothingLost ? 'yes' : 'NO'} (${r.ids.acknowledged} acknowledged, ${r.ids.lost} lost ${JSON.stringify(r.ids.lostSample)}, ` +
      `${r.ids.deadLettered} in the dead-letter store of ${r.loki.refused} refused, ${r.loki.misrouted} misrouted, ${r.loki.malformed} malformed pushes)`,
    `WAL back to ≤ ${mib(r.options.nearZeroBytesPerKey)} per key after each outage: ${r.verdict.walBackToNearZero ? 'yes' : 'NO'} (${outages}; after the flush ${r.finalWalBytes.map((b) => (b / 1024).toFixed(0)).join('/')} KiB)`,
    `load: ${r.load.acknowledged} of ${r.load.offered} entries posted were acknowledged (${((r.load.acknowledged / r.options.durationMs) * 1000).toFixed(0)}/s of ${r.options.entriesPerSecond}/s due); ` +
      `${r.load.skipped} not posted (in-flight bound reached); 429 wal_quota_exceeded: ${r.load.quotaRefused}; failures: ${failures || 'none'}`,
    `RSS: median ${mib(r.rss.firstWindowMedianBytes)} in the first ${r.rss.windows.windowS} s after ${r.rss.windows.warmupS} s of warm-up, ` +
      `${mib(r.rss.lastWindowMedianBytes)} in the last ${r.rss.windows.windowS} s; max ${mib(r.rss.maxBytes)}, VmHWM ${mib(r.rss.peakBytes)}, ` +
      `trend ${(r.rss.slopeBytesPerMinute / MiB).toFixed(2)} MiB/min`,
    `event-loop delay: p99 per ${r.options.sampleIntervalMs / 1000} s window median ${r.eventLoop.p99MedianMs.toFixed(1)} ms, worst ${r.eventLoop.p99WorstMs.toFixed(1)} ms; max ${r.eventLoop.maxMs.toFixed(0)} ms`,
    `stop: flush ${r.flush.status} in ${(r.flush.ms / 1000).toFixed(1)} s, SIGTERM exit ${r.exit.code ?? r.exit.signal}; service warnings: ${warnings || 'none'}`,
  ];
}

/** The result in one line. */
export function summarize(r: SoakResult): string {
  const faults = Object.entries(r.loki.answers)
    .filter(([k]) => k !== '204')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  return (
    `soak ${r.verdict.pass ? 'PASS' : 'FAIL'}: ${(r.options.durationMs / 60_000).toFixed(1)} min at ${r.options.entriesPerSecond} entries/s over ${r.options.keys} keys, ` +
    `${r.ids.acknowledged} acknowledged, ${r.ids.lost} lost, ${r.ids.deadLettered} dead-lettered, ${r.loki.duplicates} duplicates, ` +
    `${r.outages.length} outages (WAL back near zero ${r.outages.filter((o) => o.backToNearZeroS !== null).length}/${r.outages.length}), ` +
    `faults ${faults || 'none'}, RSS ${mib(r.rss.firstWindowMedianBytes)} → ${mib(r.rss.lastWindowMedianBytes)} (max ${mib(r.rss.maxBytes)}), ` +
    `EL p99 worst ${r.eventLoop.p99WorstMs.toFixed(1)} ms, exit ${r.exit.code ?? r.exit.signal}, ${(r.durationMs / 1000).toFixed(0)} s`
  );
}
