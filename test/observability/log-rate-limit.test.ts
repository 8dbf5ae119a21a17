import t from 'tap';
import { createLogRateLimit } from '../../src/observability/log-rate-limit.js';

t.test('a full bucket lets the burst through at once, then one line per 1/perSecond', async (t) => {
  const limit = createLogRateLimit({ perSecond: 10, burst: 50 }, 0);
  const admitted = Array.from({ length: 51 }, () => limit.admit(0));
  t.equal(admitted.filter(Boolean).length, 50, 'the burst');
  t.notOk(admitted[50], 'the burst + 1 is held back');
  t.notOk(limit.admit(99), 'no token before 100 ms');
  t.ok(limit.admit(100), 'one token after 100 ms');
  t.notOk(limit.admit(100));
});

t.test('a long quiet spell refills the bucket to the burst, no more', async (t) => {
  const limit = createLogRateLimit({ perSecond: 10, burst: 5 }, 0);
  for (let i = 0; i < 5; i++) limit.admit(0);
  const admitted = Array.from({ length: 6 }, () => limit.admit(3_600_000));
  t.same(admitted, [true, true, true, true, true, false]);
});

t.test('a clock stepping back refills nothing', async (t) => {
  const limit = createLogRateLimit({ perSecond: 1, burst: 1 }, 10_000);
  t.ok(limit.admit(10_000));
  t.notOk(limit.admit(5_000));
  t.notOk(limit.admit(10_500), 'the step back is not counted as time passed');
  t.ok(limit.admit(11_000));
});

t.test('the report counts every line held back since the previous one, then starts again', async (t) => {
  const limit = createLogRateLimit({ perSecond: 1, burst: 1 }, 0);
  t.equal(limit.report(1_000), null, 'nothing held back: no report');
  limit.admit(1_000);
  limit.admit(1_000);
  limit.admit(1_000);
  limit.suppress(2);
  t.same(limit.report(11_000), { lines: 4, seconds: 10 });
  t.equal(limit.report(12_000), null);
  limit.admit(12_000);
  limit.admit(12_000);
  t.same(limit.report(14_000), { lines: 1, seconds: 2 });
});

t.test('whatever the clock and the calls, no more lines are admitted than burst + perSecond × elapsed', async (t) => {
  const limit = createLogRateLimit({ perSecond: 20, burst: 100 }, 0);
  let now = 0;
  let admitted = 0;
  for (let i = 0; i < 100_000; i++) {
    now += (i * 7919) % 3;
    if (limit.admit(now)) admitted++;
  }
  t.ok(admitted <= 100 + (20 * now) / 1000, `${admitted} lines in ${now} ms`);
  t.equal(admitted + (limit.report(now)?.lines ?? 0), 100_000, 'every line is either written or counted');
});
