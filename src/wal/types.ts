/**
 * The WAL's public surface. The disk WAL implements it; the ingest path appends through it and
 * the forwarder reads and acknowledges through it. See docs/wal-format.md for the bytes.
 */
import type { AppendBatch } from './append-batch.js';

/** A place in one token's WAL: a segment (by sequence number) and a byte offset in it. */
export interface WalPosition {
  readonly segment: number;
  readonly offset: number;
}

export interface WalRecord {
  /** Per-token entry sequence number: 1, 2, 3, ... without gaps unless entries were lost. */
  readonly seq: number;
  /** When the record was appended (ms since the epoch). */
  readonly appendedAtMs: number;
  /** The entry's label set as `formatLabels` writes it; records of one label set share the string. */
  readonly labels: string;
  /** Loki's EntryAdapter, protobuf (src/loki/entry-codec.ts): a view into the bytes read. */
  readonly entry: Buffer;
  /** Where the record starts. */
  readonly position: WalPosition;
  /** Just after the record: acknowledging this position covers the record. */
  readonly next: WalPosition;
}

export interface ReadLimits {
  maxRecords: number;
  /** Entry bytes; at least one record is returned even when it alone is larger. */
  maxBytes: number;
}

/** Damage a read met, once per damaged place: re-reading it reports the same `resumedAt`. */
export interface DamageNote {
  /** Where the damage starts. */
  readonly at: WalPosition;
  /** Entries it cost, counted from the seqs around it: exact where they are known. */
  readonly entries: number;
  readonly bytes: number;
  readonly reason: string;
  /** Where reading went on after it. */
  readonly resumedAt: WalPosition;
}

export interface WalReadResult {
  readonly records: WalRecord[];
  /** Where the next read starts: after the last record returned or skipped. */
  readonly next: WalPosition;
  /**
   * Every entry up to this seq is in `records`, was before the read, or was lost to damage: the
   * seq an acknowledgement of `next` covers.
   */
  readonly coveredSeq: number | null;
  readonly damage: DamageNote[];
}

/**
 * What a reader needs to read from a position: the token's directory and the segments from
 * that position on, each with the offset it may be read to (its size once sealed; the durable
 * end for the active one). See segment-reader.ts.
 */
export interface ReadPlan {
  readonly dir: string;
  readonly start: WalPosition;
  /** seq of the last entry before `start`, when known: entries missing after it are counted lost. */
  readonly afterSeq: number | null;
  readonly segments: ReadonlyArray<{ readonly segment: number; readonly end: number }>;
  /**
   * The seq of the last entry before the last segment's end when the plan is the WAL owner's
   * (the service reading its own WAL): that end is durable, entries missing before it are lost,
   * and no planned segment is deleted while read. Null for a reader beside the owner that only
   * saw the files (`logstack wal`): damage at the end may be a write in progress, and a segment
   * gone may have been delivered meanwhile.
   */
  readonly lastSeq: number | null;
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
  /** Entries lost to damage, counted as found. */
  readonly corruptRecords: number;
  /** A write or fsync failed; appends answer 503 until the WAL is reopened. */
  readonly failed: string | null;
  /** The last cursor write failed (delivered segments stay on disk until one succeeds); null when it did not. */
  readonly cursorWriteFailed: string | null;
  /** The WAL could not be opened: what its directory holds is neither read nor delivered. */
  readonly unavailable: boolean;
}

/** The room a WAL has for appends now: what a batch may cost before it is built. */
export interface WalRoom {
  /** Bytes an append could take now: the quota left, and the disk above its reserve. */
  roomBytes(): number;
  /** Throws the LogstackError an append of `bytes` is refused with now; returns when it would be taken. */
  admit(bytes: number): void;
}

export interface TokenWal extends WalRoom {
  readonly name: string;
  /**
   * Appends the entries as consecutive records, all or none. Resolves once they are durable
   * (fsync'd; concurrent appends share one fsync). Rejects with a LogstackError:
   * WAL_QUOTA_EXCEEDED, WAL_DISK_RESERVE, WAL_UNAVAILABLE or WAL_NOT_OPEN.
   */
  append(batch: AppendBatch): Promise<AppendResult>;
  /** Where delivery resumes: the persisted cursor, or the oldest segment when it cannot be trusted. */
  readonly cursor: WalPosition;
  /** seq of the last entry before `cursor`, when known (see ReadPlan.afterSeq). */
  readonly cursorAfterSeq: number | null;
  /** End of what is durable; readers never see past it. */
  readonly durableEnd: WalPosition;
  /**
   * Reads records from `from` up to the durable end, including the active segment, and counts
   * the damage met. `afterSeq` as in a read plan; by default the cursor's when `from` is the
   * cursor, else unknown.
   */
  read(from: WalPosition, limits: ReadLimits, afterSeq?: number | null): Promise<WalReadResult>;
  /** The plan for reading from `from` elsewhere (another thread); see readRecords. */
  planRead(from: WalPosition, afterSeq: number | null): ReadPlan;
  /** Counts and reports damage met by a read made from a plan; damage already noted is not counted again. */
  noteDamage(notes: readonly DamageNote[]): void;
  /**
   * Persists the cursor at `to`, then deletes the sealed segments wholly before it. `ackedSeq`
   * is the seq every entry up to which is delivered or lost.
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

/** Damage found in a token's WAL, reported once where it is. */
export interface WalDamage {
  /** Entries it cost; 0 when nothing was lost (a copy survived, or only metadata was hit). */
  readonly entries: number;
  readonly segment: number;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/** What the WAL reports, for metrics and logs; every method is optional to implement. */
export interface WalObserver {
  fsync?(seconds: number): void;
  damage?(token: string, damage: WalDamage): void;
  tornTail?(token: string, segment: number, bytesTruncated: number): void;
  segmentRotated?(token: string, segment: number): void;
  segmentDeleted?(token: string, segment: number): void;
  /** The cursor on disk was not used: delivery restarts at the oldest segment (Loki drops what it has). */
  cursorReset?(token: string, reason: string): void;
  /** A file or folder that is not the WAL's was left where it is. `name` is printable (see printable-name.ts). */
  setAside?(token: string | null, name: string, reason: string): void;
  /**
   * A file or folder that could not be left where it is was renamed out of the WAL's way, kept
   * for an operator (set-aside.ts): `name` and `renamedTo` are printable.
   */
  renamedAside?(token: string, name: string, renamedTo: string, reason: string): void;
  /** The WAL folder of a key no longer configured was found: its backlog is delivered. */
  leftoverKey?(token: string): void;
  /**
   * The WAL root is locked by another process, alive (it answered on its socket) or not provably
   * dead: the start waits up to `staleSeconds` for its lock to go stale.
   */
  lockWait?(holder: 'alive' | 'unknown', staleSeconds: number): void;
  writeFailed?(token: string, error: Error): void;
}
