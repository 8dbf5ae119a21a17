/**
 * The WAL of a token whose directory could not be opened at start (a read-only mount, lost
 * permissions, I/O errors). It refuses appends with 503 and delivers nothing, so that one
 * token's unusable directory neither stops the service from starting nor the other tokens from
 * being served. Nothing in the directory is touched: the next start that can open it recovers
 * and delivers what is there.
 */
import { logstackError } from '../errors.js';
import type { AppendResult, ReadPlan, TokenWal, TokenWalStats, WalPosition, WalReadResult } from './types.js';

const NOWHERE: WalPosition = { segment: 0, offset: 0 };

export class UnavailableTokenWal implements TokenWal {
  readonly name: string;
  readonly cursor = NOWHERE;
  readonly durableEnd = NOWHERE;
  readonly #dir: string;
  readonly #reason: string;
  #quotaBytes: number;

  constructor(name: string, dir: string, reason: string, quotaBytes: number) {
    this.name = name;
    this.#dir = dir;
    this.#reason = reason;
    this.#quotaBytes = quotaBytes;
  }

  setQuotaBytes(bytes: number): void {
    this.#quotaBytes = bytes;
  }

  append(): Promise<AppendResult> {
    return Promise.reject(logstackError('WAL_UNAVAILABLE', [this.name, this.#reason], { retryAfterSeconds: 30 }));
  }

  async read(from: WalPosition): Promise<WalReadResult> {
    return { records: [], next: from, corrupt: 0 };
  }

  planRead(from: WalPosition): ReadPlan {
    return { dir: this.#dir, start: from, segments: [] };
  }

  noteCorrupt(): void {}

  ack(): Promise<void> {
    return Promise.reject(new TypeError(`nothing was read from the WAL of ${this.name}, nothing can be acknowledged`));
  }

  async rotate(): Promise<void> {}

  async rotateIfOld(): Promise<void> {}

  stats(): TokenWalStats {
    return {
      name: this.name,
      segments: 0,
      diskBytes: 0,
      quotaBytes: this.#quotaBytes,
      pendingEntries: 0,
      pendingBytes: 0,
      oldestPendingAppendedAtMs: null,
      lastSeq: 0,
      ackedSeq: 0,
      corruptRecords: 0,
      failed: this.#reason,
    };
  }

  /** Data never comes: resolves only when `signal` aborts. */
  waitForData(_from: WalPosition, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
  }

  async close(): Promise<void> {}
}
