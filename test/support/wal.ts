import { logstackError } from '../../src/errors.js';
import { appendEntry, decodeEntryAdapter, encodeEntry } from '../../src/loki/entry-codec.js';
import type { LokiEntry } from '../../src/loki/entry.js';
import type { ShippedEntry } from '../../src/loki/push-request.js';
import { AppendBatchBuilder, batchOf, entryOf, type AppendBatch } from '../../src/wal/append-batch.js';
import { createDiskWalStore, type DiskWalStoreOptions } from '../../src/wal/disk-wal-store.js';
import type { WalDamage, WalObserver, WalPosition, WalRoom, WalStore } from '../../src/wal/types.js';

export interface ObservedEvents {
  fsyncs: number;
  damage: Array<{ token: string } & WalDamage>;
  tornTails: Array<{ token: string; segment: number; bytes: number }>;
  cursorResets: string[];
  setAside: Array<{ token: string | null; name: string; reason: string }>;
  deleted: number[];
  writeFailures: Error[];
}

export function recordingObserver(): { observer: WalObserver; events: ObservedEvents } {
  const events: ObservedEvents = { fsyncs: 0, damage: [], tornTails: [], cursorResets: [], setAside: [], deleted: [], writeFailures: [] };
  const observer: WalObserver = {
    fsync: () => void events.fsyncs++,
    damage: (token, damage) => void events.damage.push({ token, ...damage }),
    setAside: (token, name, reason) => void events.setAside.push({ token, name, reason }),
    tornTail: (token, segment, bytes) => void events.tornTails.push({ token, segment, bytes }),
    cursorReset: (_token, reason) => void events.cursorResets.push(reason),
    segmentDeleted: (_token, segment) => void events.deleted.push(segment),
    writeFailed: (_token, err) => void events.writeFailures.push(err),
  };
  return { observer, events };
}

export function walOptions(root: string, overrides: Partial<DiskWalStoreOptions> = {}): DiskWalStoreOptions {
  return {
    root,
    tokens: ['alpha', 'beta'],
    segmentMaxBytes: 64 * 1024,
    segmentMaxAgeSeconds: 3600,
    quotaBytes: () => 64 * 1024 * 1024,
    sync: true,
    diskReservePercent: 0,
    lockStaleSeconds: 2,
    ...overrides,
  };
}

export async function openWal(root: string, overrides: Partial<DiskWalStoreOptions> = {}): Promise<WalStore> {
  const store = createDiskWalStore(walOptions(root, overrides));
  await store.open();
  return store;
}

/** Entries lost to damage, as the WAL reported them. */
export function lostEntries(events: ObservedEvents): number {
  return events.damage.reduce((n, d) => n + d.entries, 0);
}

/** The label set `entries` gives, unless told otherwise. */
export const TEST_LABELS = '{app="test"}';

/** One append of these entries (any bytes: the WAL stores them as they are), of one label set. */
export function entries(payloads: readonly Buffer[], labels = TEST_LABELS): AppendBatch {
  return batchOf(payloads.map((entry) => ({ labels, entry })));
}

/** One append of these Loki entries, encoded as the ingest path encodes them. */
export function lokiBatch(items: readonly LokiEntry[]): AppendBatch {
  const builder = new AppendBatchBuilder();
  for (const item of items) appendEntry(builder, item);
  return builder.build();
}

/** The entries of a batch, decoded, in order. */
export function decodedEntries(batch: AppendBatch): LokiEntry[] {
  return Array.from({ length: batch.entries }, (_, i) => decodeEntryAdapter(entryOf(batch, i), batch.labelSets[batch.labelSetOf[i]!]!));
}

/** A Loki entry as the WAL gives it to the forwarder: its label set and its encoded entry. */
export function shipped(e: LokiEntry): ShippedEntry {
  return { labels: e.labels, entry: encodeEntry(e) };
}

export function payload(i: number, size = 100): Buffer {
  const head = `entry-${i}-`;
  return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length)));
}

/** Where a record of a filled WAL is. */
export interface Placed {
  readonly seq: number;
  readonly position: WalPosition;
  readonly next: WalPosition;
}

/** The bytes of each entry `filled` appends. */
export const FILLED_ENTRY_BYTES = 300;

/**
 * Fills alpha under `root` with `n` single-entry appends of FILLED_ENTRY_BYTES and acknowledges
 * up to `ackSeq`; returns where each record is.
 */
export async function filled(root: string, n: number, opts: Partial<DiskWalStoreOptions> = {}, ackSeq = 0): Promise<Placed[]> {
  const store = await openWal(root, opts);
  const wal = store.token('alpha');
  for (let i = 1; i <= n; i++) await wal.append(entries([payload(i, FILLED_ENTRY_BYTES)]));
  const placed: Placed[] = [];
  for (let pos = wal.cursor; ; ) {
    const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 20 });
    if (r.records.length === 0) break;
    for (const { seq, position, next } of r.records) placed.push({ seq, position, next });
    pos = r.next;
  }
  if (ackSeq > 0) await wal.ack(placed[ackSeq - 1]!.next, ackSeq);
  await store.close();
  return placed;
}

/** A room of `bytes` for key `token` that records what it was asked, and refuses as the WAL's quota does. */
export function recordingRoom(bytes: number, token: string): WalRoom & { asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    roomBytes: () => bytes,
    admit(n) {
      asked.push(n);
      if (n > bytes) throw logstackError('WAL_QUOTA_EXCEEDED', [token, 0, bytes], { retryAfterSeconds: 30 });
    },
  };
}
