/**
 * The crash campaign: LogStack's promise that an entry answered 202 is never lost, checked at
 * random SIGKILL instants against the real CLI.
 *
 * Per round it starts `logstack serve`, posts concurrent batches for several keys (each with its
 * own Loki tenant) while the Loki stand-in answers with a random mix of faults, and SIGKILLs the
 * process at a random moment. The WAL's segments are small, so kills land during appends,
 * fsyncs, rotations, cursor writes, segment deletions and pushes alike. After the last round
 * LogStack starts once more against a Loki that accepts everything, flushes, and every id that
 * got a 202 must be at the stand-in under its key's tenant (or, for the key whose tenant is
 * refused with 400s in dead-letter mode, in that key's dead-letter store).
 */
import { readdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { tokenDirName } from '../../src/wal/token-dir.js';
import { spawnTs, type Child } from '../support/child.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn, type StandInAnswer } from '../support/loki-stand-in.js';

const CLI = fileURLToPath(new URL('../fixtures/logstack-cli.ts', import.meta.url));
const ADMIN = 'adm_crash_0123456789abcdefghij';
const SERVING = /LogStack is serving/;
const WAL_WARNINGS = {
  tornTails: /WAL torn tail truncated/,
  corruptRecords: /WAL damage: /,
  cursorResets: /WAL cursor not used/,
} as const;

export interface CrashCampaignOptions {
  readonly rounds: number;
  /** Keys, each with its own tenant; at least 3. */
  readonly tokens?: number;
  readonly clientsPerToken?: number;
  /** The SIGKILL lands uniformly in [min, max] ms after the service is serving. */
  readonly killWindowMs?: { readonly min: number; readonly max: number };
  readonly segmentMaxBytes?: number;
  readonly batchMaxEntries?: number;
  /** Also refuse one tenant's pushes with 400 in every other round; its refused ids must be dead letters. */
  readonly deadLetterMode?: boolean;
  /** How long the final start may take to deliver everything. */
  readonly finalFlushSeconds?: number;
  /** Progress lines (one per round). */
  readonly log?: (line: string) => void;
}

export interface CrashCampaignResult {
  readonly rounds: number;
  /** Rounds whose service reached "serving": the WAL opened after the previous kill. */
  readonly roundsStarted: number;
  /** Why a start failed (round, and the tail of stderr). */
  readonly startFailures: readonly string[];
  /** Rounds where the process died before it was killed. */
  readonly unexpectedExits: readonly string[];
  readonly kills: number;
  readonly acknowledged: number;
  /** Acknowledged ids found neither at the stand-in under their tenant nor in their dead letters. */
  readonly lost: number;
  readonly lostSample: readonly string[];
  /** Acknowledged ids that reached Loki under another key's tenant. */
  readonly misrouted: number;
  /** Entries Loki received again and dropped as identical. */
  readonly duplicates: number;
  /** Push answers other than a plain accept, by kind. */
  readonly faults: Readonly<Record<string, number>>;
  readonly faultsTotal: number;
  /**
   * WAL recovery warnings over all starts: a kill may only tear the tail of a segment, so
   * records failing their CRC or an unreadable cursor mean a write was not crash-safe.
   */
  readonly walWarnings: Readonly<{ tornTails: number; corruptRecords: number; cursorResets: number }>;
  /** Acknowledged ids found in the dead-letter store (dead-letter mode only). */
  readonly deadLettered: number;
  /** The final start: flushed everything, and its SIGTERM exit code. */
  readonly finalFlushComplete: boolean;
  readonly finalExitCode: number | null;
  readonly durationMs: number;
}

interface Key {
  readonly token: string;
  readonly name: string;
  readonly tenant: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (min: number, max: number): number => min + Math.random() * (max - min);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A bound raced against what should come first: it must not keep the campaign's process alive once that has. */
const atMost = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * A random answer from the main campaign's mix: never a 400, whose entries would leave Loki's
 * accounting for the dead-letter store's.
 */
function randomAnswer(tenant: string): StandInAnswer {
  const r = Math.random();
  if (r < 0.4) return lokiAnswers.accept();
  if (r < 0.55) return lokiAnswers.accept(Math.round(between(5, 300)));
  if (r < 0.65) return lokiAnswers.serverError();
  if (r < 0.75) return lokiAnswers.unavailable();
  if (r < 0.85) return lokiAnswers.rateLimited(tenant, Math.round(Math.random()));
  if (r < 0.93) return lokiAnswers.reset();
  return lokiAnswers.unexpected2xx(260);
}

function faultKind(status: number | null): string | null {
  if (status === 204) return null;
  if (status === null) return 'reset';
  return String(status);
}

let batchSerial = 0;

async function postBatch(url: string, key: Key, round: number, client: number): Promise<{ status: number; ids: string[] }> {
  const n = 1 + Math.floor(Math.random() * 50);
  const serial = batchSerial++;
  const ids = Array.from({ length: n }, (_, i) => `crash r${round} ${key.name} c${client} b${serial} e${i}`);
  const timestamp = new Date().toISOString();
  const body = JSON.stringify({ entries: ids.map((message) => ({ timestamp, level: 'INFO', message, service: 'crash', env: 'test' })) });
  try {
    const res = await fetch(`${url}/v1/logs:ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/json' },
      body,
    });
    await res.arrayBuffer();
    return { status: res.status, ids };
  } catch {
    return { status: 0, ids };
  }
}

async function deadLetterLines(walRoot: string, name: string): Promise<Set<string>> {
  const dir = join(walRoot, tokenDirName(name), 'dead-letter');
  const lines = new Set<string>();
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return lines;
  }
  for (const file of files) {
    for (const text of (await readFile(join(dir, file), 'utf8')).split('\n')) {
      if (text === '') continue;
      try {
        const batch = JSON.parse(text) as { entries: Array<{ line: string }> };
        for (const e of batch.entries) lines.add(e.line);
      } catch {
        // A line torn by the kill: its batch was not acknowledged and is still in the WAL.
      }
    }
  }
  return lines;
}

function isAlive(child: Child): boolean {
  return child.proc.exitCode === null && child.proc.signalCode === null;
}

/** Runs the campaign; rejects only on a fault of the harness itself. */
export async function runCrashCampaign(opts: CrashCampaignOptions): Promise<CrashCampaignResult> {
  const began = Date.now();
  const tokenCount = Math.max(3, opts.tokens ?? 3);
  const clientsPerToken = opts.clientsPerToken ?? 3;
  const killWindow = opts.killWindowMs ?? { min: 200, max: 1500 };
  const log = opts.log ?? (() => {});
  const keys: Key[] = Array.from({ length: tokenCount }, (_, i) => ({
    token: `tok_crash_${i}_0123456789abcdefghij`,
    name: `crash-${i}`,
    tenant: `tenant-${i}`,
  }));
  const refusedKey = keys[0]!;

  const loki: LokiStandIn = createLokiStandIn();
  await loki.start();
  const dir = await mkdtemp(join(tmpdir(), 'logstack-crash-'));
  const walRoot = join(dir, 'wal');
  const configFile = join(dir, 'config.yaml');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(
    configFile,
    stringify({
      server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 5 },
      security: {
        admin_token: ADMIN,
        // The load is the point; the rate limiter must not shape it.
        rate_limit_rps: 1_000_000,
        rate_limit_burst: 1_000_000,
        api_keys: Object.fromEntries(keys.map((k) => [k.token, { name: k.name, tenant: k.tenant }])),
      },
      wal: { wal_root_path: walRoot, lock_stale_seconds: 2, segment_max_bytes: opts.segmentMaxBytes ?? 32768 },
      loki: {
        base_url: loki.url,
        timeout_seconds: 5,
        batch_max_wait_ms: 5,
        batch_max_entries: opts.batchMaxEntries ?? 40,
        backoff_initial_ms: 10,
        backoff_max_ms: 300,
      },
    }),
  );

  const acked = new Map<string, Key>();
  const children: Child[] = [];
  const startFailures: string[] = [];
  const unexpectedExits: string[] = [];
  let roundsStarted = 0;
  let kills = 0;
  let finalFlushComplete = false;
  let finalExitCode: number | null = null;

  const start = async (label: string): Promise<Child | null> => {
    const child = spawnTs(CLI, ['serve', '--config', configFile]);
    children.push(child);
    try {
      await child.waitForLine(SERVING);
      return child;
    } catch (err) {
      if (isAlive(child)) child.proc.kill('SIGKILL');
      await child.exited;
      startFailures.push(`${label}: ${(err as Error).message.slice(-2000)}`);
      return null;
    }
  };

  try {
    for (let round = 0; round < opts.rounds; round++) {
      const refusing = opts.deadLetterMode === true && round % 2 === 1;
      loki.setStandingAnswer(refusing ? lokiAnswers.timestampTooOld(`{service="crash"}`) : null, { tenant: refusedKey.tenant });
      const child = await start(`round ${round}`);
      if (child === null) break;
      roundsStarted++;

      let stop = false;
      const faults = (async () => {
        while (!stop) {
          loki.setStandingAnswer(randomAnswer(pick(keys).tenant));
          await sleep(between(10, 80));
        }
      })();
      let ackedThisRound = 0;
      let acked202: () => void = () => {};
      const firstAck = new Promise<void>((resolve) => (acked202 = resolve));
      let refusedKeyAcked: () => void = () => {};
      const refusedKeyAckedOnce = new Promise<void>((resolve) => (refusedKeyAcked = resolve));
      const clients = keys.flatMap((key) =>
        Array.from({ length: clientsPerToken }, async (_, c) => {
          while (!stop && isAlive(child)) {
            const r = await postBatch(url, key, round, c);
            if (r.status !== 202) continue;
            for (const id of r.ids) acked.set(id, key);
            ackedThisRound += r.ids.length;
            acked202();
            if (key === refusedKey) refusedKeyAcked();
          }
        }),
      );
      // A round is timed from its first 202 (a refusing round from the refused key's, so that
      // its entries meet the 400s): on a busy machine the first requests may take longer than
      // the whole kill window, and a kill before any 202 tests nothing. The bound only keeps a
      // service that never answers from holding the campaign.
      await Promise.race([refusing ? refusedKeyAckedOnce : firstAck, child.exited, atMost(60_000)]);
      const killAt = between(killWindow.min, killWindow.max);
      const diedEarly = await Promise.race([sleep(killAt).then(() => false), child.exited.then(() => true)]);
      if (diedEarly) unexpectedExits.push(`round ${round}: exited on its own ${JSON.stringify(await child.exited)}; stderr: ${child.stderr().slice(-2000)}`);
      else {
        child.proc.kill('SIGKILL');
        kills++;
      }
      await child.exited;
      stop = true;
      await Promise.all([...clients, faults]);
      log(`round ${round + 1}/${opts.rounds}: killed after ${Math.round(killAt)} ms, ${ackedThisRound} acknowledged${refusing ? `, ${refusedKey.tenant} refused with 400` : ''}`);
    }

    loki.setStandingAnswer(null);
    loki.setStandingAnswer(null, { tenant: refusedKey.tenant });
    const final = await start('final start');
    if (final !== null) {
      const flushSeconds = opts.finalFlushSeconds ?? 60;
      const res = await fetch(`${url}/v1/admin/flush?wait=true&timeout_seconds=${flushSeconds}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      await res.arrayBuffer();
      finalFlushComplete = res.status === 200;
      final.proc.kill('SIGTERM');
      finalExitCode = (await final.exited).code;
    }

    const byTenant = new Map<string, Set<string>>();
    for (const e of loki.received()) {
      const set = byTenant.get(e.tenant ?? '') ?? new Set<string>();
      set.add(e.line);
      byTenant.set(e.tenant ?? '', set);
    }
    const deadLetters = opts.deadLetterMode === true ? await deadLetterLines(walRoot, refusedKey.name) : new Set<string>();
    const lostIds: string[] = [];
    let misrouted = 0;
    let deadLettered = 0;
    for (const [id, key] of acked) {
      if (byTenant.get(key.tenant)?.has(id)) continue;
      if (key === refusedKey && deadLetters.has(id)) {
        deadLettered++;
        continue;
      }
      lostIds.push(id);
      if ([...byTenant.values()].some((s) => s.has(id))) misrouted++;
    }
    const walWarnings = { tornTails: 0, corruptRecords: 0, cursorResets: 0 };
    for (const line of children.flatMap((c) => c.lines)) {
      for (const [kind, pattern] of Object.entries(WAL_WARNINGS)) if (pattern.test(line)) walWarnings[kind as keyof typeof walWarnings]++;
    }
    const faults: Record<string, number> = {};
    for (const p of loki.pushes) {
      const kind = faultKind(p.status);
      if (kind !== null) faults[kind] = (faults[kind] ?? 0) + 1;
    }
    return {
      rounds: opts.rounds,
      roundsStarted,
      startFailures,
      unexpectedExits,
      kills,
      acknowledged: acked.size,
      lost: lostIds.length,
      lostSample: lostIds.slice(0, 10),
      misrouted,
      duplicates: loki.duplicatesReceived,
      faults,
      faultsTotal: Object.values(faults).reduce((a, b) => a + b, 0),
      walWarnings,
      deadLettered,
      finalFlushComplete,
      finalExitCode,
      durationMs: Date.now() - began,
    };
  } finally {
    for (const c of children) if (isAlive(c)) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await loki.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The result in one line. */
export function summarize(r: CrashCampaignResult): string {
  const faults = Object.entries(r.faults)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  return (
    `crash campaign: ${r.roundsStarted}/${r.rounds} rounds started, ${r.kills} kills, ${r.acknowledged} entries acknowledged, ` +
    `${r.lost} lost, ${r.duplicates} duplicates, ${r.faultsTotal} faults (${faults || 'none'}), ` +
    `${r.walWarnings.tornTails} torn tails, ${r.walWarnings.corruptRecords} corrupt, ${r.walWarnings.cursorResets} cursor resets` +
    `${r.deadLettered > 0 ? `, ${r.deadLettered} dead-lettered` : ''}, ${(r.durationMs / 1000).toFixed(1)} s`
  );
}
