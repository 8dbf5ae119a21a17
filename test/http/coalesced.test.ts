import t from 'tap';
import { coalesced } from '../../src/http/coalesced.js';

t.test('calls while a computation runs share it; the next call after it ends starts a new one', async (t) => {
  let started = 0;
  let finish: (value: number) => void = () => {};
  const compute = coalesced(() => {
    started++;
    return new Promise<number>((resolve) => (finish = resolve));
  });
  const first = compute();
  const second = compute();
  t.equal(started, 1, 'one computation for two concurrent calls');
  finish(7);
  t.same(await Promise.all([first, second]), [7, 7]);
  const third = compute();
  t.equal(started, 2, 'a call after it ended computes again');
  finish(8);
  t.equal(await third, 8);
});

t.test('a failure is shared too, and does not stick', async (t) => {
  let calls = 0;
  const compute = coalesced(async () => {
    calls++;
    if (calls === 1) throw new Error('collect failed');
    return 'ok';
  });
  const [a, b] = await Promise.allSettled([compute(), compute()]);
  t.equal(a.status, 'rejected');
  t.equal(b.status, 'rejected');
  t.equal(await compute(), 'ok');
  t.equal(calls, 2);
});
