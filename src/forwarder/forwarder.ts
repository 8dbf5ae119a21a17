/**
 * The forwarder: delivers every token's WAL to Loki. One lane per token, at most one push in
 * flight per lane (order within a token is kept), at most `loki.concurrency` pushes in flight
 * in all, lanes served round-robin. Each lane has its own backoff, so a token Loki throttles
 * or refuses sits out while the others flow.
 *
 * The cursor moves only after Loki acknowledged a batch (200/204) or after the batch was
 * durably written to the dead-letter store; never on a failed push, never on shutdown.
 *
 * Lifecycle: new → running → stopping → stopped. `stop` drains for a bounded time, once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { encodePush } from '../loki/push-request.js';
import type { TokenWal, WalRecord, WalStore } from '../wal/types.js';
import { retryDelay, type BackoffPolicy } from './backoff.js';
import { cutBatch, holdMs } from './batch-cut.js';
import { DeadLetterStore, type DeadLetterSummary } from './dead-letter-store.js';
import type { LokiClient } from './loki-client.js';
import type { PushOutcome } from './push-outcome.js';
import { rejectionReason } from './rejection-reason.js';
import { nextDueMs, pickLanes } from './round-robin.js';

export type LaneHealth = 'ok' | 'retrying' | 'failing' | 'paused';
export type ForwarderState = 'new' | 'running' | 'stopping' | 'stopped';

/** What the forwarder reports, for metrics and logs. */
export interface ForwarderObserver {
  pushed?(token: string, outcome: PushOutcome, latencyMs: number, entries: number, bodyBytes: number): void;
  /** Entries acknowledged by Loki; `ages` are seconds from append to acknowledgement. */
  delivered?(token: string, entries: number, payloadBytes: number, ages: readonly number[]): void;
  deadLettered?(token: string, reason: string, entries: number, droppedForQuota: number): void;
  /** Called once per change of a lane's health, not once per retry. */
  healthChanged?(token: string, from: LaneHealth, to: LaneHealth, detail: string): void;
  error?(token: string, err: Error): void;
}

export interface ForwarderOptions {
  readonly wal: WalStore;
  readonly client: Pick<LokiClient, 'push'>;
  readonly loki: Config['loki'];
  /** The Loki tenant of a key name (X-Scope-OrgID); undefined: the client's default. */
  readonly tenantOf: (name: string) => string | undefined;
  /** Directory of a token's dead letters. */
  readonly deadLetterDir: (name: string) => string;
  readonly observer?: ForwarderObserver;
  readonly clock?: () => number;
  readonly random?: () => number;
}

export interface LastPush {
  readonly result: PushOutcome['kind'];
  readonly status: number | null;
  readonly message: string | null;
  readonly atMs: number;
}

export interface LaneStatus {
  readonly token: string;
  readonly tenant: string | null;
  readonly health: LaneHealth;
  readonly consecutiveFailures: number;
  readonly nextAttemptInMs: number;
  readonly batchMaxEntries: number;
  readonly lastPush: LastPush | null;
  readonly deadLetters: number;
}

export interface FlushReport {
  readonly complete: boolean;
  readonly tokens: Record<string, { targetSeq: number; ackedSeq: number; pendingEntries: number; delivered: boolean; health: LaneHealth }>;
}

interface Lane {
  readonly wal: TokenWal;
  readonly tenant: string | undefined;
  readonly deadLetters: DeadLetterStore;
  /** The WAL may hold records past the cursor; false while waiting for data. */
  ready: boolean;
  inFlight: boolean;
  notBeforeMs: number;
  failures: number;
  health: LaneHealth;
  maxEntries: number;
  /** Send partial batches at once until this seq is delivered (flush, shutdown). */
  flushToSeq: number;
  lastPush: LastPush | null;
  /** Last push answer, or when the lane last found work after being idle (ms). */
  progressAtMs: number;
}

export class Forwarder {
  readonly #opts: ForwarderOptions;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #backoff: BackoffPolicy;
  #lanes: Lane[] = [];
  #state: ForwarderState = 'new';
  #turn = 0;
  #inFlight = 0;
  #deliveries = new Set<Promise<void>>();
  #dirty = false;
  #wakeUp: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  readonly #abort = new AbortController();

  constructor(opts: ForwarderOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#backoff = { initialMs: opts.loki.backoff_initial_ms, maxMs: opts.loki.backoff_max_ms, maxRetries: opts.loki.max_retries };
  }

  get state(): ForwarderState {
    return this.#state;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new TypeError(`forwarder cannot start when ${this.#state}`);
    for (const wal of this.#opts.wal.tokens()) {
      const deadLetters = new DeadLetterStore(this.#opts.deadLetterDir(wal.name), this.#opts.loki.dead_letter_quota_bytes);
      await deadLetters.open();
      this.#lanes.push({
        wal,
        tenant: this.#opts.tenantOf(wal.name),
        deadLetters,
        ready: true,
        inFlight: false,
        notBeforeMs: 0,
        failures: 0,
        health: 'ok',
        maxEntries: this.#opts.loki.batch_max_entries,
        flushToSeq: 0,
        lastPush: null,
        progressAtMs: this.#clock(),
      });
    }
    this.#state = 'running';
    this.#loop = this.#run();
  }

  // --- the loop --------------------------------------------------------------------------------

  #wake(): void {
    this.#dirty = true;
    const wake = this.#wakeUp;
    this.#wakeUp = null;
    wake?.();
  }

  async #run(): Promise<void> {
    while (this.#state === 'running' || this.#state === 'stopping') {
      this.#dirty = false;
      const now = this.#clock();
      const views = this.#lanes;
      const { chosen, nextStart } = pickLanes(views, this.#turn, this.#opts.loki.concurrency - this.#inFlight, now);
      this.#turn = nextStart;
      for (const i of chosen) this.#startDelivery(this.#lanes[i]!);
      if (this.#dirty) continue;
      const due = nextDueMs(views, now);
      await new Promise<void>((resolve) => {
        const timer = due === null ? null : setTimeout(() => this.#wake(), Math.max(1, due - now));
        this.#wakeUp = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
        if (this.#dirty) this.#wake();
      });
    }
  }

  #startDelivery(lane: Lane): void {
    lane.inFlight = true;
    this.#inFlight++;
    const delivery = this.#deliver(lane)
      .catch((err: Error) => {
        this.#opts.observer?.error?.(lane.wal.name, err);
        this.#retryLater(lane, `internal error: ${err.message}`);
      })
      .finally(() => {
        lane.inFlight = false;
        this.#inFlight--;
        this.#deliveries.delete(delivery);
        this.#wake();
      });
    this.#deliveries.add(delivery);
  }

  #waitForData(lane: Lane): void {
    lane.ready = false;
    void lane.wal.waitForData(lane.wal.cursor, this.#abort.signal).then(() => {
      // Idle time is not a stall: the clock starts when there is work again.
      lane.progressAtMs = this.#clock();
      lane.ready = true;
      this.#wake();
    });
  }

  async #deliver(lane: Lane): Promise<void> {
    const { wal } = lane;
    const loki = this.#opts.loki;
    const read = await wal.read(wal.cursor, { maxRecords: lane.maxEntries, maxBytes: loki.batch_max_bytes });
    if (read.records.length === 0) {
      // Only damage lay between the cursor and the durable end: step over it.
      if (read.corrupt > 0) await wal.ack(read.next, wal.stats().ackedSeq);
      this.#waitForData(lane);
      return;
    }
    const { count, bytes } = cutBatch(
      read.records.map((r) => r.payload),
      { maxEntries: lane.maxEntries, maxBytes: loki.batch_max_bytes },
    );
    const records = read.records.slice(0, count);
    const now = this.#clock();
    const hold = holdMs(
      { entries: count, bytes, oldestAppendedAtMs: records[0]!.appendedAtMs, nowMs: now, flushing: lane.flushToSeq > wal.stats().ackedSeq },
      { maxEntries: lane.maxEntries, maxBytes: loki.batch_max_bytes, maxWaitMs: loki.batch_max_wait_ms },
    );
    if (hold > 0) {
      lane.notBeforeMs = now + hold;
      return;
    }
    await this.#push(lane, records);
  }

  async #push(lane: Lane, records: WalRecord[]): Promise<void> {
    const name = lane.wal.name;
    const payloads = records.map((r) => r.payload);
    const encoded = await encodePush(payloads, this.#opts.loki.encoding);
    const attempt = await this.#opts.client.push(encoded.body, encoded.headers, lane.tenant);
    const { outcome } = attempt;
    const now = this.#clock();
    lane.progressAtMs = now;
    this.#opts.observer?.pushed?.(name, outcome, attempt.latencyMs, records.length, encoded.body.length);
    lane.lastPush = {
      result: outcome.kind,
      status: outcome.status,
      message: outcome.kind === 'success' ? null : outcome.message,
      atMs: now,
    };

    switch (outcome.kind) {
      case 'success': {
        await this.#ack(lane, records);
        const bytes = payloads.reduce((n, p) => n + p.length, 0);
        this.#opts.observer?.delivered?.(name, records.length, bytes, records.map((r) => (now - r.appendedAtMs) / 1000));
        lane.failures = 0;
        lane.maxEntries = Math.min(this.#opts.loki.batch_max_entries, lane.maxEntries * 2);
        this.#setHealth(lane, 'ok', `Loki accepted a push (${outcome.status})`);
        return;
      }
      case 'retryable':
        this.#retryLater(lane, `${outcome.reason}: ${outcome.message}`, outcome.retryAfterMs);
        return;
      case 'split':
        if (records.length > 1) {
          // Loki's size limit: the next attempt takes half as many entries, in the same order.
          lane.maxEntries = Math.max(1, Math.ceil(records.length / 2));
          return;
        }
        await this.#deadLetter(lane, records, outcome.status, 'too_large', outcome.message);
        return;
      case 'rejected':
        await this.#deadLetter(lane, records, outcome.status, rejectionReason(outcome.status, outcome.message), outcome.message);
        return;
      case 'misconfigured':
        lane.failures++;
        lane.notBeforeMs = now + this.#opts.loki.backoff_max_ms;
        this.#setHealth(lane, 'paused', `Loki refused LogStack itself (${outcome.status}: ${outcome.message}); data is kept, retrying every ${this.#opts.loki.backoff_max_ms} ms`);
        return;
    }
  }

  #retryLater(lane: Lane, detail: string, retryAfterMs?: number): void {
    lane.failures++;
    const delay = retryDelay(lane.failures, this.#backoff, this.#random, retryAfterMs);
    lane.notBeforeMs = this.#clock() + delay.delayMs;
    this.#setHealth(lane, delay.phase === 'slow' ? 'failing' : 'retrying', detail);
  }

  async #ack(lane: Lane, records: WalRecord[]): Promise<void> {
    const last = records.at(-1)!;
    await lane.wal.ack(last.next, last.seq);
  }

  async #deadLetter(lane: Lane, records: WalRecord[], status: number, reason: string, message: string): Promise<void> {
    const dropped = await lane.deadLetters.write(
      records.map((r) => r.payload),
      status,
      reason,
      message,
      this.#clock(),
    );
    await this.#ack(lane, records);
    this.#opts.observer?.deadLettered?.(lane.wal.name, reason, records.length, dropped);
    lane.failures = 0;
    this.#setHealth(lane, 'ok', `Loki refused ${records.length} entries (${status}: ${message}); they are in the dead-letter store`);
  }

  #setHealth(lane: Lane, health: LaneHealth, detail: string): void {
    if (lane.health === health) return;
    const from = lane.health;
    lane.health = health;
    this.#opts.observer?.healthChanged?.(lane.wal.name, from, health, detail);
  }

  // --- operations ------------------------------------------------------------------------------

  /**
   * Seals the active segments and sends partial batches at once. With `wait`, resolves when
   * everything appended before the call is delivered, or at `timeoutMs`, with a per-token report.
   */
  async flush(opts: { wait: boolean; timeoutMs: number }): Promise<FlushReport> {
    await Promise.all(this.#lanes.map((l) => l.wal.rotate()));
    for (const lane of this.#lanes) {
      lane.flushToSeq = lane.wal.stats().lastSeq;
      if (lane.health === 'ok') lane.notBeforeMs = 0;
    }
    this.#wake();
    const deadline = this.#clock() + opts.timeoutMs;
    while (opts.wait && this.#clock() < deadline && !this.#flushed()) await sleep(20);
    return this.#flushReport();
  }

  #flushed(): boolean {
    return this.#lanes.every((l) => l.wal.stats().ackedSeq >= l.flushToSeq);
  }

  #flushReport(): FlushReport {
    const tokens: FlushReport['tokens'] = {};
    for (const lane of this.#lanes) {
      const s = lane.wal.stats();
      tokens[lane.wal.name] = { targetSeq: lane.flushToSeq, ackedSeq: s.ackedSeq, pendingEntries: s.pendingEntries, delivered: s.ackedSeq >= lane.flushToSeq, health: lane.health };
    }
    return { complete: this.#flushed(), tokens };
  }

  status(): LaneStatus[] {
    const now = this.#clock();
    return this.#lanes.map((lane) => ({
      token: lane.wal.name,
      tenant: lane.tenant ?? this.#opts.loki.tenant ?? null,
      health: lane.health,
      consecutiveFailures: lane.failures,
      nextAttemptInMs: Math.max(0, lane.notBeforeMs - now),
      batchMaxEntries: lane.maxEntries,
      lastPush: lane.lastPush,
      deadLetters: lane.deadLetters.entries,
    }));
  }

  /**
   * For readiness: the longest a token with work, not in a backoff, has gone without a push
   * answer (since its last answer, or since its work arrived).
   */
  stalledMs(): number {
    const now = this.#clock();
    let stalled = 0;
    for (const l of this.#lanes) {
      if (l.ready && l.notBeforeMs <= now && l.wal.stats().pendingEntries > 0) stalled = Math.max(stalled, now - l.progressAtMs);
    }
    return stalled;
  }

  async deadLetters(): Promise<Record<string, DeadLetterSummary>> {
    const out: Record<string, DeadLetterSummary> = {};
    for (const lane of this.#lanes) out[lane.wal.name] = await lane.deadLetters.summary();
    return out;
  }

  /** Requeues dead letters (all tokens, or one) into their WALs; returns entries per token. */
  async replayDeadLetters(token?: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const lane of this.#lanes) {
      if (token !== undefined && lane.wal.name !== token) continue;
      out[lane.wal.name] = await lane.deadLetters.replay(async (payloads) => {
        await lane.wal.append(payloads);
      });
    }
    return out;
  }

  /** Delivers for at most `drainMs`, then stops; cursors stay where Loki's answers put them. */
  stop(drainMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#state !== 'running') {
        this.#state = 'stopped';
        return;
      }
      this.#state = 'stopping';
      for (const lane of this.#lanes) lane.flushToSeq = lane.wal.stats().lastSeq;
      this.#wake();
      const deadline = this.#clock() + drainMs;
      while (this.#clock() < deadline && !this.#flushed() && this.#lanes.some((l) => l.health === 'ok')) await sleep(20);
      this.#state = 'stopped';
      this.#abort.abort();
      this.#wake();
      await this.#loop;
      await Promise.all(this.#deliveries);
    })();
    return this.#stopping;
  }
}
