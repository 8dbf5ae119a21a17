/**
 * The forwarder: delivers every token's WAL to Loki. One lane per token, at most one push in
 * flight per lane (order within a token is kept), at most `loki.concurrency` pushes in flight
 * in all, lanes served round-robin. Each lane has its own backoff, so a token Loki throttles
 * or refuses sits out while the others flow.
 *
 * The cursor moves only after Loki acknowledged a batch (200/204) or after the batch was
 * durably written to the dead-letter store; never on a failed push, never on shutdown. Each
 * lane delivers from its position in memory and persists the cursor behind it, one write at a
 * time, the latest position each time: the next push need not wait for the cursor's fsyncs,
 * and a crash before a write only means Loki gets those entries again (it drops duplicates).
 *
 * Reading, encoding and pushing — the CPU-heavy part — is the `delivery` step, which the
 * service runs on its own thread; every decision stays here.
 *
 * Batching and backoff, the keys' tenants and the lanes of keys added later change with a
 * configuration reload (`applySettings`, `applyKeys`); a delivery step in flight finishes with
 * the settings it was sent with.
 *
 * Lifecycle: new → running → stopping → stopped. `stop` drains for a bounded time, once.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { comparePositions } from '../wal/position.js';
import type { TokenWal, WalPosition, WalStore } from '../wal/types.js';
import { retryDelay, type BackoffPolicy } from './backoff.js';
import type { BatchDelivery, PushedBatch } from './batch-delivery.js';
import { DeadLetterStore, type DeadLetterSummary } from './dead-letter-store.js';
import type { PushOutcome } from './push-outcome.js';
import { rejectionReason } from './rejection-reason.js';
import { nextDueMs, pickLanes } from './round-robin.js';

export type LaneHealth = 'ok' | 'retrying' | 'failing' | 'paused';

/** The `loki` settings a reload may change while delivery runs. */
export type DeliverySettings = Pick<
  Config['loki'],
  'batch_max_bytes' | 'batch_max_entries' | 'batch_max_wait_ms' | 'backoff_initial_ms' | 'backoff_max_ms' | 'max_retries'
>;
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
  /** Something that was not a dead-letter file held one's name; renamed aside. */
  deadLetterSetAside?(token: string, name: string, renamedTo: string, reason: string): void;
  /** Lines of a dead-letter file that cannot be read or replayed, and the file they are kept in. */
  deadLetterDamaged?(token: string, file: string, lines: number, reason: string, keptIn: string): void;
}

export interface ForwarderOptions {
  readonly wal: WalStore;
  /** Reads, encodes and pushes one batch (see batch-delivery.ts, delivery-thread.ts). */
  readonly delivery: Pick<BatchDelivery, 'deliver'>;
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
  tenant: string | undefined;
  readonly deadLetters: DeadLetterStore;
  /** Delivered up to here (after `ackedSeq`); the persisted cursor follows. */
  position: WalPosition;
  /** Every entry up to this seq is delivered or lost. */
  ackedSeq: number;
  /** seq of the last entry before `position`, when known: what a read counts missing entries from. */
  afterSeq: number | null;
  /** The cursor write in progress, and whether the position moved again since it began. */
  persisting: Promise<void> | null;
  persistAgain: boolean;
  /** The WAL may hold records past the position; false while waiting for data. */
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

function backoffPolicy(settings: DeliverySettings): BackoffPolicy {
  return { initialMs: settings.backoff_initial_ms, maxMs: settings.backoff_max_ms, maxRetries: settings.max_retries };
}

export class Forwarder {
  readonly #opts: ForwarderOptions;
  readonly #clock: () => number;
  readonly #random: () => number;
  #settings: DeliverySettings;
  #backoff: BackoffPolicy;
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
    // Every idle lane listens on the abort signal: one listener per token, however many.
    setMaxListeners(0, this.#abort.signal);
    this.#clock = opts.clock ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#settings = opts.loki;
    this.#backoff = backoffPolicy(opts.loki);
  }

  get state(): ForwarderState {
    return this.#state;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new TypeError(`forwarder cannot start when ${this.#state}`);
    for (const wal of this.#opts.wal.tokens()) this.#lanes.push(await this.#openLane(wal, this.#opts.tenantOf(wal.name)));
    this.#state = 'running';
    this.#loop = this.#run();
  }

  async #openLane(wal: TokenWal, tenant: string | undefined): Promise<Lane> {
    const observer = this.#opts.observer;
    const deadLetters = new DeadLetterStore(this.#opts.deadLetterDir(wal.name), this.#opts.loki.dead_letter_quota_bytes, {
      observer: {
        setAside: (name, renamedTo, reason) => observer?.deadLetterSetAside?.(wal.name, name, renamedTo, reason),
        damaged: (file, lines, reason, keptIn) => observer?.deadLetterDamaged?.(wal.name, file, lines, reason, keptIn),
      },
    });
    try {
      await deadLetters.open();
    } catch (err) {
      // One key's dead letters unreadable: its delivery goes on, and so does every other key's.
      // A refusal that must be dead-lettered retries until the store can be written.
      observer?.error?.(wal.name, err as Error);
    }
    return {
      wal,
      tenant,
      deadLetters,
      position: wal.cursor,
      ackedSeq: wal.stats().ackedSeq,
      afterSeq: wal.cursorAfterSeq,
      persisting: null,
      persistAgain: false,
      ready: true,
      inFlight: false,
      notBeforeMs: 0,
      failures: 0,
      health: 'ok',
      maxEntries: this.#settings.batch_max_entries,
      flushToSeq: 0,
      lastPush: null,
      progressAtMs: this.#clock(),
    };
  }

  // --- configuration reload ----------------------------------------------------------------------

  /** Batching and backoff from now on; pushes in flight keep the batch they were cut with. */
  applySettings(settings: DeliverySettings): void {
    this.#settings = { ...settings };
    this.#backoff = backoffPolicy(settings);
    for (const lane of this.#lanes) lane.maxEntries = Math.min(lane.maxEntries, settings.batch_max_entries);
    this.#wake();
  }

  /**
   * The configured keys by name, with their tenant: a lane for each WAL that has none yet (a key
   * added), the new tenant for each key that has a lane. A lane whose key was removed keeps its
   * tenant and goes on until its backlog is delivered.
   */
  async applyKeys(tenants: ReadonlyMap<string, string | undefined>): Promise<void> {
    if (this.#state !== 'running') return;
    const known = new Set(this.#lanes.map((lane) => lane.wal.name));
    for (const wal of this.#opts.wal.tokens()) {
      if (!known.has(wal.name)) this.#lanes.push(await this.#openLane(wal, tenants.get(wal.name)));
    }
    for (const lane of this.#lanes) if (tenants.has(lane.wal.name)) lane.tenant = tenants.get(lane.wal.name);
    this.#wake();
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
    void lane.wal.waitForData(lane.position, this.#abort.signal).then(() => {
      // Idle time is not a stall: the clock starts when there is work again.
      lane.progressAtMs = this.#clock();
      lane.ready = true;
      this.#wake();
    });
  }

  async #deliver(lane: Lane): Promise<void> {
    const { wal } = lane;
    const now = this.#clock();
    const result = await this.#opts.delivery.deliver({
      plan: wal.planRead(lane.position, lane.afterSeq),
      tenant: lane.tenant,
      maxEntries: lane.maxEntries,
      maxBytes: this.#settings.batch_max_bytes,
      maxWaitMs: this.#settings.batch_max_wait_ms,
      flushing: lane.flushToSeq > lane.ackedSeq,
      nowMs: now,
    });
    if (result.damage.length > 0) wal.noteDamage(result.damage);
    switch (result.kind) {
      case 'idle':
        // Only damage (or label sets) lay between the position and the durable end: step over it.
        if (comparePositions(result.next, lane.position) > 0) this.#advance(lane, result.next, Math.max(lane.ackedSeq, result.coveredSeq ?? 0));
        this.#waitForData(lane);
        return;
      case 'hold':
        // A flush that came while this request was out wants the partial batch now: the hold
        // was decided without it.
        if (lane.flushToSeq <= lane.ackedSeq) lane.notBeforeMs = now + result.holdMs;
        return;
      case 'pushed':
        await this.#settle(lane, result);
        return;
    }
  }

  async #settle(lane: Lane, pushed: PushedBatch): Promise<void> {
    const name = lane.wal.name;
    const { attempt, entries } = pushed;
    const { outcome } = attempt;
    const now = this.#clock();
    lane.progressAtMs = now;
    this.#opts.observer?.pushed?.(name, outcome, attempt.latencyMs, entries, pushed.bodyBytes);
    lane.lastPush = {
      result: outcome.kind,
      status: outcome.status,
      message: outcome.kind === 'success' ? null : outcome.message,
      atMs: now,
    };

    switch (outcome.kind) {
      case 'success': {
        this.#advance(lane, pushed.next, pushed.lastSeq);
        const ages = Array.from(pushed.appendedAtMs, (at) => (now - at) / 1000);
        this.#opts.observer?.delivered?.(name, entries, pushed.payloadBytes, ages);
        lane.failures = 0;
        lane.maxEntries = Math.min(this.#settings.batch_max_entries, lane.maxEntries * 2);
        this.#setHealth(lane, 'ok', `Loki accepted a push (${outcome.status})`);
        return;
      }
      case 'retryable':
        this.#retryLater(lane, `${outcome.reason}: ${outcome.message}`, outcome.retryAfterMs);
        return;
      case 'split':
        if (entries > 1) {
          // Loki's size limit: the next attempt takes half as many entries, in the same order.
          lane.maxEntries = Math.max(1, Math.ceil(entries / 2));
          return;
        }
        await this.#deadLetter(lane, pushed, outcome.status, 'too_large', outcome.message);
        return;
      case 'rejected':
        await this.#deadLetter(lane, pushed, outcome.status, rejectionReason(outcome.status, outcome.message), outcome.message);
        return;
      case 'misconfigured':
        lane.failures++;
        lane.notBeforeMs = now + this.#settings.backoff_max_ms;
        this.#setHealth(lane, 'paused', `Loki refused LogStack itself (${outcome.status}: ${outcome.message}); data is kept, retrying every ${this.#settings.backoff_max_ms} ms`);
        return;
    }
  }

  #retryLater(lane: Lane, detail: string, retryAfterMs?: number): void {
    lane.failures++;
    const delay = retryDelay(lane.failures, this.#backoff, this.#random, retryAfterMs);
    lane.notBeforeMs = this.#clock() + delay.delayMs;
    this.#setHealth(lane, delay.phase === 'slow' ? 'failing' : 'retrying', detail);
  }

  /** Moves the lane past delivered entries and has the cursor follow. */
  #advance(lane: Lane, to: WalPosition, ackedSeq: number): void {
    lane.position = to;
    lane.ackedSeq = ackedSeq;
    lane.afterSeq = ackedSeq;
    lane.persistAgain = true;
    if (lane.persisting) return;
    lane.persisting = (async () => {
      let failing = false;
      while (lane.persistAgain) {
        lane.persistAgain = false;
        try {
          await lane.wal.ack(lane.position, lane.ackedSeq);
        } catch (err) {
          // The cursor on disk stays behind (ENOSPC, say): delivery goes on, and a restart
          // before the next write that succeeds re-sends from there. Segments stay until then.
          // Reported once per streak: the WAL counts and logs every failed write itself.
          if (!failing) this.#opts.observer?.error?.(lane.wal.name, err as Error);
          failing = true;
          if (this.#state === 'stopped') break;
          lane.persistAgain = true;
          await sleep(this.#settings.backoff_max_ms, undefined, { signal: this.#abort.signal }).catch(() => {});
        }
      }
      lane.persisting = null;
    })();
  }

  async #deadLetter(lane: Lane, pushed: PushedBatch, status: number, reason: string, message: string): Promise<void> {
    if (!pushed.refused) throw new TypeError(`the delivery step returned no entries for ${pushed.entries} refused entries`);
    const dropped = await lane.deadLetters.write(pushed.refused, status, reason, message, this.#clock());
    this.#advance(lane, pushed.next, pushed.lastSeq);
    this.#opts.observer?.deadLettered?.(lane.wal.name, reason, pushed.entries, dropped);
    lane.failures = 0;
    this.#setHealth(lane, 'ok', `Loki refused ${pushed.entries} entries (${status}: ${message}); they are in the dead-letter store`);
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
   * everything appended before the call is delivered, at `timeoutMs`, or once `signal` aborts
   * (the client went away), with a per-token report.
   */
  async flush(opts: { wait: boolean; timeoutMs: number; signal?: AbortSignal }): Promise<FlushReport> {
    await Promise.all(this.#lanes.map((l) => l.wal.rotate()));
    for (const lane of this.#lanes) {
      lane.flushToSeq = lane.wal.stats().lastSeq;
      if (lane.health === 'ok') lane.notBeforeMs = 0;
    }
    this.#wake();
    const deadline = this.#clock() + opts.timeoutMs;
    while (opts.wait && this.#clock() < deadline && !this.#flushed() && opts.signal?.aborted !== true) await sleep(20);
    return this.#flushReport();
  }

  /** Everything the lane's WAL holds up to the flush is delivered; never for a WAL that could not be read. */
  #delivered(lane: Lane): boolean {
    const s = lane.wal.stats();
    return !s.unavailable && s.ackedSeq >= lane.flushToSeq;
  }

  #flushed(): boolean {
    return this.#lanes.every((l) => this.#delivered(l));
  }

  #flushReport(): FlushReport {
    const tokens: FlushReport['tokens'] = {};
    for (const lane of this.#lanes) {
      const s = lane.wal.stats();
      tokens[lane.wal.name] = { targetSeq: lane.flushToSeq, ackedSeq: s.ackedSeq, pendingEntries: s.pendingEntries, delivered: this.#delivered(lane), health: lane.health };
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
      out[lane.wal.name] = await lane.deadLetters.replay(async (batch) => {
        await lane.wal.append(batch);
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
      // A WAL that could not be read has nothing to drain.
      const drained = () => this.#lanes.every((l) => l.wal.stats().unavailable || this.#delivered(l));
      while (this.#clock() < deadline && !drained() && this.#lanes.some((l) => l.health === 'ok')) await sleep(20);
      this.#state = 'stopped';
      this.#abort.abort();
      this.#wake();
      await this.#loop;
      await Promise.all(this.#deliveries);
      await Promise.all(this.#lanes.map((l) => l.persisting));
    })();
    return this.#stopping;
  }
}
