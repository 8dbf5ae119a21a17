import t from 'tap';
import { retryDelay } from '../../src/forwarder/backoff.js';

const POLICY = { initialMs: 250, maxMs: 30_000, maxRetries: 3 };
const fixed = (value: number) => () => value;
const JUST_BELOW_ONE = 1 - Number.EPSILON;

t.test('fast phase: full jitter under a ceiling that doubles per failure', async (t) => {
  t.same([1, 2, 3].map((n) => retryDelay(n, POLICY, fixed(JUST_BELOW_ONE)).delayMs), [249, 499, 999]);
  t.same([1, 2, 3].map((n) => retryDelay(n, POLICY, fixed(0.5)).delayMs), [125, 250, 500]);
  t.same([1, 2, 3].map((n) => retryDelay(n, POLICY, fixed(0)).delayMs), [0, 0, 0], 'full jitter reaches down to zero');
  t.same([1, 2, 3].map((n) => retryDelay(n, POLICY, fixed(0.5)).phase), ['fast', 'fast', 'fast']);
});

t.test('the ceiling never passes the cap', async (t) => {
  const policy = { initialMs: 1000, maxMs: 5000, maxRetries: 10 };
  t.same([1, 2, 3, 4, 10].map((n) => retryDelay(n, policy, fixed(JUST_BELOW_ONE)).delayMs), [999, 1999, 3999, 4999, 4999]);
});

t.test('after max_retries it keeps retrying at about the cap, reported as slow, never giving up', async (t) => {
  for (const failures of [4, 5, 50, 10_000]) {
    const low = retryDelay(failures, POLICY, fixed(0));
    const high = retryDelay(failures, POLICY, fixed(JUST_BELOW_ONE));
    t.same([low.phase, low.delayMs], ['slow', 15_000], `failure ${failures}, lowest`);
    t.same([high.phase, high.delayMs], ['slow', 29_999], `failure ${failures}, highest`);
  }
  t.equal(retryDelay(1, { ...POLICY, maxRetries: 0 }, fixed(0)).phase, 'slow', 'max_retries 0 has no fast phase');
});

t.test('Retry-After is a floor that may exceed the cap', async (t) => {
  t.equal(retryDelay(1, POLICY, fixed(0.5), 5000).delayMs, 5000, 'longer than the backoff: wait as told');
  t.equal(retryDelay(3, POLICY, fixed(JUST_BELOW_ONE), 100).delayMs, 999, 'shorter than the backoff: the backoff stands');
  t.equal(retryDelay(9, POLICY, fixed(0), 120_000).delayMs, 120_000, 'past the cap');
  t.equal(retryDelay(2, POLICY, fixed(0), 0).delayMs, 0);
});

t.test('every delay drawn stays within its phase bounds', async (t) => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let failures = 1; failures <= 12; failures++) {
    for (let i = 0; i < 200; i++) {
      const { delayMs, phase } = retryDelay(failures, POLICY, random);
      const [min, max] = phase === 'fast' ? [0, Math.min(POLICY.maxMs, POLICY.initialMs * 2 ** (failures - 1))] : [POLICY.maxMs / 2, POLICY.maxMs];
      if (delayMs < min || delayMs >= max) t.fail(`failure ${failures}: ${delayMs} outside [${min}, ${max})`);
    }
  }
  t.pass('2400 draws in bounds');
});

t.test('refuses a failure count that is not a positive integer', async (t) => {
  t.throws(() => retryDelay(0, POLICY, Math.random), RangeError);
  t.throws(() => retryDelay(1.5, POLICY, Math.random), RangeError);
});
