/**
 * The WAL's public surface. The disk WAL implements it; the ingest path appends through it and
 * the forwarder reads and acknowledges through it. See docs/wal-format.md for the bytes.
 */

/** A place in one token's WAL: a segment (by sequence number) and a byte offset in it. */
export interface WalPosition {
  readonly segment: number;
  readonly offset: number;
}

export interface WalRecord {
  /** Per-token entry sequence number: 1, 2, 3, ... without gaps unless records were corrupt. */
  readonly seq: number;
  /** When the record was appended (ms since the epoch). */
  readonly appendedAtMs: number;
  readonly payload: Buffer;
  /** Where the record starts. */
  readonly position: WalPosition;
  /** Just after the record: acknowledging this position covers the record. */
  readonly next: WalPosition;
}

export interface ReadLimits {
  maxRecords: number;
  /** Payload bytes; at least one record is returned even when it alone is larger. */
  maxBytes: number;
}

export interface WalReadResult {
  readonly records: WalRecord[];
  /** Where the next read starts: after the last record returned or skipped. */
  readonly next: WalPosition;
  /** Corrupt records skipped by this read (also counted in the stats and metrics). */
  readonly corrupt: number;
}

/**
 * What a reader needs to read from a position: the token's directory and the segments from
 * that position on, each with the offset it may be read to (its size once sealed; the durable
 * end for the active one). See segment-reader.ts.
 */
export interface ReadPlan {
  readonly dir: string;
  readonly start: WalPosition;
  readonly segments: ReadonlyArray<{ readonly segment: number; readonly end: number }>;
}

/** Damage a read met: `count` records lost, found by a scan that reached `scannedTo`. */
export interface CorruptNote {
  readonly count: number;
  readonly scannedTo: WalPosition;
}

export interface AppendResult {
  readonly firstSeq: number;
  readonly lastSeq: number;
}

export interface TokenWalStats {
  readonly name: string;
  readonly segments: number;
  /** Bytes of all segment files on disk. */
  readonly diskBytes: number;
  readonly quotaBytes: number;
  /** Records appended and not yet acknowledged. */
  readonly pendingEntries: number;
  /** Segment bytes from the cursor to the durable end. */
  readonly pendingBytes: number;
  /** Append time of the oldest unacknowledged record, or null when nothing is pending. */
  readonly oldestPendingAppendedAtMs: number | null;
  readonly lastSeq: number;
  readonly ackedSeq: number;
  readonly corruptRecords: number;
  /** A write or fsync failed; appends answer 503 until the WAL is reopened. */
  readonly failed: string | null;
}

export interface TokenWal {
  readonly name: string;
  /**
   * Appends the payloads as consecutive records, all or none. Resolves once they are durable
   * (fsync'd; concurrent appends share one fsync). Rejects with a LogstackError:
   * WAL_QUOTA_EXCEEDED, WAL_DISK_RESERVE, WAL_UNAVAILABLE or WAL_NOT_OPEN.
   */
  append(payloads: readonly Buffer[]): Promise<AppendResult>;
  /** Where delivery resumes: the persisted cursor. */
  readonly cursor: WalPosition;
  /** End of what is durable; readers never see past it. */
  readonly durableEnd: WalPosition;
  /** Reads records from `from` up to the durable end, including the active segment. */
  read(from: WalPosition, limits: ReadLimits): Promise<WalReadResult>;
  /** The plan for reading from `from` elsewhere (another thread); see readRecords. */
  planRead(from: WalPosition): ReadPlan;
  /** Counts damage met by a read made from a plan; damage already counted is not counted again. */
  noteCorrupt(notes: readonly CorruptNote[]): void;
  /**
   * Persists the cursor at `to` (atomically: temp file, fsync, rename, fsync dir), then deletes
   * the sealed segments wholly before it. `ackedSeq` is the seq of the last record covered.
   */
  ack(to: WalPosition, ackedSeq: number): Promise<void>;
  /**
   * Seals the active segment if it holds records, so delivered data can be deleted. Never
   * rejects: a failure is reported to the observer (`writeFailed`) and the next append retries.
   */
  rotate(): Promise<void>;
  stats(): TokenWalStats;
  /** Resolves once durable data lies beyond `from`, or when `signal` aborts. */
  waitForData(from: WalPosition, signal?: AbortSignal): Promise<void>;
}

export type WalState = 'new' | 'opening' | 'open' | 'closing' | 'closed';

export interface DiskStatus {
  readonly freePercent: number;
  readonly freeBytes: number;
  readonly reservePercent: number;
  readonly ok: boolean;
}

export interface WalStore {
  readonly state: WalState;
  readonly root: string;
  /** Takes the lock on the root, recovers every token directory found and those named. */
  open(): Promise<void>;
  /** Waits for appends in flight, releases the lock. Runs once. */
  close(): Promise<void>;
  /** The WAL of the key named `name`, created on first use. */
  token(name: string): TokenWal;
  /** Every token WAL, including those left by keys no longer configured (their backlog still ships). */
  tokens(): TokenWal[];
  /** Opens the WAL of a key added by a configuration reload; the one already open, if there is one. */
  addToken(name: string): Promise<TokenWal>;
  /** Quotas by key name, from now on (a configuration reload); accepted data stays whatever its size. */
  setQuotas(quotaBytes: (name: string) => number): void;
  disk(): DiskStatus;
}

/** What the WAL reports, for metrics and logs; every method is optional to implement. */
export interface WalObserver {
  fsync?(seconds: number): void;
  corruptRecords?(token: string, count: number, where: string): void;
  tornTail?(token: string, segment: number, bytesTruncated: number): void;
  segmentRotated?(token: string, segment: number): void;
  segmentDeleted?(token: string, segment: number): void;
  cursorReset?(token: string, reason: string): void;
  writeFailed?(token: string, error: Error): void;
}
