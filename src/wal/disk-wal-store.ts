/**
 * The WAL on local disk: one directory per token under the root, one lock on the root.
 * Lifecycle: new → opening → open → closing → closed; calls in the wrong state throw
 * WAL_NOT_OPEN.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { logstackError } from '../errors.js';
import { DiskSpace } from './disk-space.js';
import { FrameBuffers } from './frame-buffers.js';
import { printableName } from './printable-name.js';
import { classifyRootEntry, tokenDirName } from './token-dir.js';
import { DiskTokenWal } from './token-wal.js';
import type { DiskStatus, TokenWal, WalObserver, WalState, WalStore } from './types.js';
import { UnavailableTokenWal } from './unavailable-token-wal.js';
import { isLockFile, lockWalRoot, type ReleaseLock } from './wal-lock.js';

export interface DiskWalStoreOptions {
  readonly root: string;
  /** Key names known from the configuration; their WALs exist from `open` on. */
  readonly tokens: readonly string[];
  readonly segmentMaxBytes: number;
  readonly segmentMaxAgeSeconds: number;
  readonly quotaBytes: (name: string) => number;
  readonly sync: boolean;
  readonly diskReservePercent: number;
  readonly lockStaleSeconds: number;
  readonly observer?: WalObserver;
  readonly clock?: () => number;
  /** Called when the lock is lost while open; the default throws (a crash, on purpose). */
  readonly onLockCompromised?: (err: Error) => void;
}

const AGE_CHECK_MS = 1000;

export function createDiskWalStore(opts: DiskWalStoreOptions): WalStore {
  return new DiskWalStore(opts);
}

class DiskWalStore implements WalStore {
  readonly root: string;
  readonly #opts: DiskWalStoreOptions;
  readonly #tokens = new Map<string, DiskTokenWal | UnavailableTokenWal>();
  readonly #disk: DiskSpace;
  readonly #frameBuffers = new FrameBuffers();
  #state: WalState = 'new';
  #release: ReleaseLock | null = null;
  #ageTimer: NodeJS.Timeout | null = null;
  #closing: Promise<void> | null = null;
  #quotaBytes: (name: string) => number;

  constructor(opts: DiskWalStoreOptions) {
    this.root = opts.root;
    this.#opts = opts;
    this.#quotaBytes = opts.quotaBytes;
    this.#disk = new DiskSpace(opts.root, opts.diskReservePercent);
  }

  get state(): WalState {
    return this.#state;
  }

  async open(): Promise<void> {
    if (this.#state !== 'new') throw logstackError('WAL_NOT_OPEN', [this.#state]);
    this.#state = 'opening';
    try {
      await mkdir(this.root, { recursive: true });
      this.#release = await lockWalRoot({
        root: this.root,
        staleMs: this.#opts.lockStaleSeconds * 1000,
        onWait: (holder) => this.#opts.observer?.lockWait?.(holder, this.#opts.lockStaleSeconds),
        onCompromised:
          this.#opts.onLockCompromised ??
          ((err) => {
            throw err;
          }),
      });
      await this.#disk.start();
      const names = new Set(this.#opts.tokens);
      const configured = new Set(this.#opts.tokens.map(tokenDirName));
      for (const entry of await readdir(this.root, { withFileTypes: true })) {
        if (isLockFile(entry.name) || configured.has(entry.name)) continue;
        const found = await classifyRootEntry(this.root, entry);
        if (found.kind === 'leftover') {
          names.add(found.name);
          this.#opts.observer?.leftoverKey?.(found.name);
        } else {
          this.#opts.observer?.setAside?.(null, printableName(entry.name), found.reason);
        }
      }
      for (const name of names) this.#tokens.set(name, await this.#openTokenWal(name));
    } catch (err) {
      await this.#shutdown();
      this.#state = 'closed';
      throw err;
    }
    this.#ageTimer = setInterval(() => void this.#rotateOld(), AGE_CHECK_MS);
    this.#ageTimer.unref();
    this.#state = 'open';
  }

  async #openTokenWal(name: string): Promise<DiskTokenWal | UnavailableTokenWal> {
    const wal = this.#createTokenWal(name);
    try {
      await wal.open();
      return wal;
    } catch (err) {
      // Only the file system's refusals (EROFS, EACCES, EIO, ...) are this token's alone.
      const { code, syscall } = err as NodeJS.ErrnoException;
      if (syscall === undefined) throw err;
      await wal.close();
      this.#opts.observer?.writeFailed?.(name, err as Error);
      return new UnavailableTokenWal(name, this.#tokenDir(name), `could not open its directory (${code ?? 'EIO'}); restart once it is writable`, this.#quotaBytes(name));
    }
  }

  #tokenDir(name: string): string {
    return join(this.root, tokenDirName(name));
  }

  #createTokenWal(name: string): DiskTokenWal {
    const o = this.#opts;
    return new DiskTokenWal({
      name,
      dir: this.#tokenDir(name),
      segmentMaxBytes: o.segmentMaxBytes,
      segmentMaxAgeMs: o.segmentMaxAgeSeconds * 1000,
      quotaBytes: this.#quotaBytes(name),
      sync: o.sync,
      observer: o.observer ?? {},
      clock: o.clock ?? Date.now,
      disk: this.#disk,
      frameBuffers: this.#frameBuffers,
    });
  }

  async #rotateOld(): Promise<void> {
    for (const wal of this.#tokens.values()) {
      if (this.#state !== 'open') return;
      await wal.rotateIfOld();
    }
  }

  token(name: string): TokenWal {
    if (this.#state !== 'open') throw logstackError('WAL_NOT_OPEN', [this.#state]);
    const wal = this.#tokens.get(name);
    if (!wal) throw new TypeError(`no WAL for key "${name}": it was not configured when the WAL opened`);
    return wal;
  }

  tokens(): TokenWal[] {
    return [...this.#tokens.values()];
  }

  async addToken(name: string): Promise<TokenWal> {
    if (this.#state !== 'open') throw logstackError('WAL_NOT_OPEN', [this.#state]);
    const existing = this.#tokens.get(name);
    if (existing) return existing;
    const wal = await this.#openTokenWal(name);
    this.#tokens.set(name, wal);
    return wal;
  }

  setQuotas(quotaBytes: (name: string) => number): void {
    this.#quotaBytes = quotaBytes;
    for (const [name, wal] of this.#tokens) wal.setQuotaBytes(quotaBytes(name));
  }

  disk(): DiskStatus {
    return this.#disk.status();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#state === 'new') {
        this.#state = 'closed';
        return;
      }
      this.#state = 'closing';
      await this.#shutdown();
      this.#state = 'closed';
    })();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    if (this.#ageTimer) clearInterval(this.#ageTimer);
    this.#disk.stop();
    await Promise.all([...this.#tokens.values()].map((w) => w.close()));
    if (this.#release) await this.#release();
    this.#release = null;
  }
}
