import t from 'tap';
import { DiskSpace } from '../../src/wal/disk-space.js';

t.test('the disk reserve takes writes up to the room above it, and refuses one byte more, before it is written', async (t) => {
  // Real statfs of the test directory; without start(), the figures stay those of one refresh.
  const disk = new DiskSpace(t.testdir(), 5);
  await disk.refresh();
  // The reserve is a percentage of the volume: the room is whole bytes and a fraction.
  const room = Math.floor(disk.roomBytes());
  t.ok(room > 0, `room above the 5% reserve: ${room} bytes`);
  t.doesNotThrow(() => disk.check(room), 'a write of exactly the room is taken');
  t.throws(() => disk.check(room + 1), { code: 'LOGSTACK_ERR_WAL_DISK_RESERVE', status: 503 }, 'one byte more is refused');
  disk.claim(room - 10);
  const left = disk.roomBytes();
  t.ok(left >= 10 && left < 11, `what is claimed counts until the next refresh: ${left} bytes left`);
  t.throws(() => disk.claim(11), { code: 'LOGSTACK_ERR_WAL_DISK_RESERVE' }, 'and the next claim past it is refused');
  t.equal(disk.roomBytes(), left, 'a refused claim takes nothing');
});
