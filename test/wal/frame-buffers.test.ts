import t from 'tap';
import { FrameBuffers } from '../../src/wal/frame-buffers.js';

t.test('a released buffer serves the next group that fits in it', async (t) => {
  const pool = new FrameBuffers({ keep: 2, maxKeptBytes: 1 << 20 });
  const first = pool.acquire(100_000);
  t.ok(first.length >= 100_000);
  pool.release(first);
  t.equal(pool.acquire(90_000), first, 'reused');
  t.not(pool.acquire(90_000), first, 'not handed out twice while in use');
});

t.test('a group larger than every kept buffer gets one of its own', async (t) => {
  const pool = new FrameBuffers({ keep: 2, maxKeptBytes: 1 << 20 });
  const small = pool.acquire(1000);
  pool.release(small);
  const large = pool.acquire(500_000);
  t.not(large, small);
  t.ok(large.length >= 500_000);
});

t.test('bounded whatever the number of writers: count and size', async (t) => {
  const pool = new FrameBuffers({ keep: 2, maxKeptBytes: 256 * 1024 });
  const huge = pool.acquire(1 << 20);
  pool.release(huge);
  t.not(pool.acquire(1 << 20), huge, 'a buffer over maxKeptBytes is not kept');

  const buffers = [pool.acquire(64 * 1024), pool.acquire(128 * 1024), pool.acquire(200 * 1024)];
  for (const b of buffers) pool.release(b);
  const again = [pool.acquire(1), pool.acquire(1), pool.acquire(1)];
  t.equal(again.filter((b) => buffers.includes(b)).length, 2, 'two kept');
  t.notOk(again.includes(buffers[0]!), 'the smallest made room for larger ones');
});
