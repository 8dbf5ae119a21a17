import type { FileHandle } from 'node:fs/promises';
import t from 'tap';
import { LABEL_CACHE_MAX_BYTES, LabelSetReader, SegmentLabelTable, TABLE_MAX_BYTES } from '../../src/wal/label-sets.js';

t.test('the writer’s table of label sets is bounded in bytes: at the bound it keeps them all, one byte more starts it over', async (t) => {
  const table = new SegmentLabelTable();
  const half = TABLE_MAX_BYTES / 2;
  table.add('a', half, { at: 64, copyAt: 100 });
  table.add('b', half, { at: 200, copyAt: 300 });
  t.ok(table.get('a') && table.get('b'), `${TABLE_MAX_BYTES} bytes of label text are kept`);
  table.add('c', 1, { at: 400, copyAt: 500 });
  t.equal(table.get('a'), undefined, 'one byte more: what it held is forgotten (written again in the segment, never wrong)');
  t.same(table.get('c'), { at: 400, copyAt: 500 });
});

t.test('the reader’s cache of label sets is bounded in bytes: at the bound it reads nothing again, one byte more starts it over', async (t) => {
  let reads = 0;
  // Every read finds nothing: a label set not in the cache resolves to null here.
  const fh = { read: async () => (reads++, { bytesRead: 0, buffer: Buffer.alloc(0) }) } as unknown as FileHandle;
  const reader = new LabelSetReader();
  const half = 'x'.repeat(LABEL_CACHE_MAX_BYTES / 2);
  reader.remember('s', 64, Buffer.from(half));
  reader.remember('s', 128, Buffer.from(half));
  t.equal(await reader.resolve(fh, 's', 64, 64, 1 << 30), half, 'at the bound, what was met is served from the cache');
  t.equal(reads, 0, 'without a read');
  reader.remember('s', 192, Buffer.from('y'));
  t.equal(await reader.resolve(fh, 's', 64, 64, 1 << 30), null, 'one byte more: the cache starts over, and the label set is read where it is');
  t.ok(reads > 0, 'from the file');
});
