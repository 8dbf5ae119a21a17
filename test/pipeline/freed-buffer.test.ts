import t from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { freeBuffer } from '../../src/pipeline/freed-buffer.js';

const KIB = 1024;

t.test('a buffer that owns its memory is freed at once, not at the next full collection', async (t) => {
  // What the frees give back is read across them alone: a collection while the buffers are
  // allocated may free other, older buffers, and the growth then reads less than 32 MiB.
  const before = process.memoryUsage().arrayBuffers;
  const buffers = Array.from({ length: 8 }, () => Buffer.alloc(4 * 1024 * KIB, 1));
  const inUse = process.memoryUsage().arrayBuffers;
  for (const b of buffers) freeBuffer(b);
  const freed = process.memoryUsage().arrayBuffers;
  t.ok(inUse - freed >= 32 * 1024 * KIB, `given back to the allocator with no collection: ${inUse - freed} bytes`);
  t.ok(freed - before < 1024 * KIB, 'nothing of them is left');
  t.equal(buffers[0]!.length, 0, 'what is left of it reads as empty');
  freeBuffer(buffers[0]!);
});

t.test('from 64 KiB up: what zlib and snappy return, and fastify concatenates', async (t) => {
  const exact = Buffer.allocUnsafe(64 * KIB);
  freeBuffer(exact);
  t.equal(exact.length, 0, 'freed at 64 KiB');
  const smaller = Buffer.allocUnsafe(64 * KIB - 1);
  freeBuffer(smaller);
  t.equal(smaller.length, 64 * KIB - 1, 'one byte under is left to the GC');
  const inflated = gunzipSync(gzipSync(Buffer.alloc(200 * KIB, 7)));
  freeBuffer(inflated);
  t.equal(inflated.length, 0);
});

t.test('memory shared with other buffers is left alone', async (t) => {
  const whole = Buffer.alloc(256 * KIB, 3);
  const view = whole.subarray(KIB);
  freeBuffer(view);
  t.equal(whole.length, 256 * KIB, 'a view does not free the buffer it is part of');
  t.equal(view[0], 3);

  const head = whole.subarray(0, 128 * KIB);
  freeBuffer(head);
  t.equal(whole.length, 256 * KIB, 'nor does a view from its start');

  const pooled = [Buffer.allocUnsafe(100), Buffer.allocUnsafe(100)];
  pooled[1]!.fill(9);
  freeBuffer(pooled[0]!);
  t.equal(pooled[1]![0], 9, "a slice of Node's shared pool is never freed");
});
