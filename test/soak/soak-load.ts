/**
 * The soak's clients: JSON batches of 50–100 entries posted to `/v1/logs:ingest` at a fixed
 * rate, round-robin over the keys, on keep-alive connections. Open loop: batches leave when
 * their time comes, whatever the answers do, so a stalled service meets the full rate when it
 * comes back. In-flight requests are bounded; a batch due while the bound is reached is not
 * sent and counts as `skipped`, so a service that cannot keep up shows as a shortfall instead
 * of a queue growing in the driver.
 */
import { Pool } from 'undici';
import { entryMessagePrefix } from './entry-id.js';
import { ACKNOWLEDGED, type IdLedger } from './id-ledger.js';

export interface SoakKey {
  readonly index: number;
  readonly name: string;
  readonly token: string;
  readonly tenant: string;
  readonly ledger: IdLedger;
}

export interface LoadCounts {
  /** Entries posted. */
  offered: number;
  /** Entries answered 202. */
  acknowledged: number;
  /** Entries answered 429 `wal_quota_exceeded`: allowed while Loki is down. */
  quotaRefused: number;
  /** Entries due while `maxInFlight` requests were waiting: never sent. */
  skipped: number;
  /** Requests answered anything else, by `<status> <error code>` (status 0: no answer). */
  readonly failures: Record<string, number>;
  readonly failureSamples: string[];
}

export interface Load {
  readonly counts: LoadCounts;
  /** Stops sending and waits for the requests in flight; once. */
  stop(): Promise<void>;
}

const LEVELS = ['INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG', 'INFO'] as const;
const TICK_MS = 5;

function entryJson(key: SoakKey, id: number, timestamp: string): string {
  const message = `${entryMessagePrefix(key.index, id)}GET /v1/orders/${id % 9973} completed in ${id % 997} ms`;
  return (
    `{"timestamp":"${timestamp}","level":"${LEVELS[id % LEVELS.length]}","message":"${message}","service":"soak","env":"${key.name}",` +
    `"metadata":{"request_id":"req-${id}","region":"eu-west-1","http":{"method":"GET","status":200},` +
    `"user":{"email":"jane.doe${id % 100}@example.com","id":${id % 1000}}}}`
  );
}

export function startLoad(opts: {
  readonly url: string;
  readonly keys: readonly SoakKey[];
  readonly entriesPerSecond: number;
  readonly maxInFlight?: number;
}): Load {
  const maxInFlight = opts.maxInFlight ?? 64;
  const pool = new Pool(opts.url, { connections: maxInFlight, pipelining: 1 });
  const counts: LoadCounts = { offered: 0, acknowledged: 0, quotaRefused: 0, skipped: 0, failures: {}, failureSamples: [] };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let due = 0;
  let nextKey = 0;
  let nextSize = 75;
  let timer: NodeJS.Timeout | undefined;

  const fail = (kind: string, detail: string): void => {
    counts.failures[kind] = (counts.failures[kind] ?? 0) + 1;
    if (counts.failureSamples.length < 10) counts.failureSamples.push(`${kind}: ${detail.slice(0, 300)}`);
  };

  const post = async (key: SoakKey, first: number, n: number): Promise<void> => {
    const timestamp = new Date().toISOString();
    const entries: string[] = [];
    for (let id = first; id < first + n; id++) entries.push(entryJson(key, id, timestamp));
    try {
      const res = await pool.request({
        method: 'POST',
        path: '/v1/logs:ingest',
        headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/json' },
        body: `{"entries":[${entries.join(',')}]}`,
      });
      if (res.statusCode === 202) {
        await res.body.dump();
        for (let id = first; id < first + n; id++) key.ledger.mark(id, ACKNOWLEDGED);
        counts.acknowledged += n;
        return;
      }
      const text = await res.body.text();
      let code = '';
      try {
        code = String((JSON.parse(text) as { error?: unknown }).error ?? '');
      } catch {
        code = 'not-json';
      }
      if (res.statusCode === 429 && code === 'wal_quota_exceeded') counts.quotaRefused += n;
      else fail(`${res.statusCode} ${code}`, text);
    } catch (err) {
      fail(`0 ${(err as NodeJS.ErrnoException).code ?? 'error'}`, (err as Error).message);
    }
  };

  const tick = (): void => {
    const target = Math.floor((opts.entriesPerSecond * (performance.now() - started)) / 1000);
    while (due + nextSize <= target) {
      const n = nextSize;
      due += n;
      nextSize = 50 + Math.floor(Math.random() * 51);
      if (inFlight.size >= maxInFlight) {
        counts.skipped += n;
        continue;
      }
      const key = opts.keys[nextKey]!;
      nextKey = (nextKey + 1) % opts.keys.length;
      counts.offered += n;
      const request = post(key, key.ledger.issue(n), n).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    timer = setTimeout(tick, TICK_MS);
  };
  tick();

  let stopped: Promise<void> | undefined;
  return {
    counts,
    stop() {
      clearTimeout(timer);
      stopped ??= Promise.all(inFlight).then(() => pool.close());
      return stopped;
    },
  };
}
