import { createDiskWalStore, type DiskWalStoreOptions } from '../../src/wal/disk-wal-store.js';
import type { WalObserver, WalStore } from '../../src/wal/types.js';

export interface ObservedEvents {
  fsyncs: number;
  corrupt: Array<{ token: string; count: number; where: string }>;
  tornTails: Array<{ token: string; segment: number; bytes: number }>;
  cursorResets: string[];
  deleted: number[];
  writeFailures: Error[];
}

export function recordingObserver(): { observer: WalObserver; events: ObservedEvents } {
  const events: ObservedEvents = { fsyncs: 0, corrupt: [], tornTails: [], cursorResets: [], deleted: [], writeFailures: [] };
  const observer: WalObserver = {
    fsync: () => void events.fsyncs++,
    corruptRecords: (token, count, where) => void events.corrupt.push({ token, count, where }),
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

export function payload(i: number, size = 100): Buffer {
  const head = `entry-${i}-`;
  return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length)));
}
