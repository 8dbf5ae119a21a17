/**
 * The free space of the WAL volume, refreshed in the background so that the ingest path only
 * reads a number. Between refreshes the bytes appended are subtracted, so a burst cannot run
 * far past the reserve before the next statfs sees it.
 */
import { statfs } from 'node:fs/promises';
import { logstackError } from '../errors.js';
import type { DiskStatus } from './types.js';

const REFRESH_MS = 1000;

export class DiskSpace {
  readonly #path: string;
  readonly #reservePercent: number;
  #totalBytes = 0;
  #freeBytes = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(path: string, reservePercent: number) {
    this.#path = path;
    this.#reservePercent = reservePercent;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh().catch(() => {}), REFRESH_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async refresh(): Promise<void> {
    const s = await statfs(this.#path);
    this.#totalBytes = s.blocks * s.bsize;
    this.#freeBytes = s.bavail * s.bsize;
  }

  status(): DiskStatus {
    const freePercent = this.#totalBytes > 0 ? (this.#freeBytes / this.#totalBytes) * 100 : 100;
    return { freePercent, freeBytes: this.#freeBytes, reservePercent: this.#reservePercent, ok: freePercent >= this.#reservePercent };
  }

  /** Bytes that can be written before the free space goes under the reserve. */
  roomBytes(): number {
    return Math.max(0, this.#freeBytes - (this.#totalBytes * this.#reservePercent) / 100);
  }

  /** Throws WAL_DISK_RESERVE when writing `bytes` more would go under the reserve. */
  check(bytes: number): void {
    if (bytes > this.roomBytes()) {
      const { freePercent } = this.status();
      throw logstackError('WAL_DISK_RESERVE', [freePercent.toFixed(1), this.#reservePercent], { retryAfterSeconds: 60 });
    }
  }

  /** As `check`, then counts the bytes as written until the next refresh. */
  claim(bytes: number): void {
    this.check(bytes);
    this.#freeBytes -= bytes;
  }
}
