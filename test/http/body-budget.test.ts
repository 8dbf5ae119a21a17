import t from 'tap';
import { createBodyBudget } from '../../src/http/body-budget.js';

t.test('a lease gives back part of what it holds, never more than it holds', async (t) => {
  const budget = createBodyBudget(100, 100);
  const a = budget.lease('app');
  const b = budget.lease('other');
  t.ok(a.take(70));
  t.ok(b.take(20));
  t.notOk(b.take(11));
  a.give(30);
  t.equal(a.held, 40);
  t.equal(budget.inFlight, 60);
  t.ok(b.take(11), 'what was given back is free for another request');
  a.give(1000);
  t.equal(a.held, 0, 'at most all of it');
  t.equal(budget.inFlight, 31);
  a.release();
  t.equal(budget.inFlight, 31, 'a release after gives back nothing twice');
});

t.test('leases take from one budget, never past it, and give everything back once', async (t) => {
  const budget = createBodyBudget(100, 100);
  const a = budget.lease('app');
  const b = budget.lease('other');
  t.ok(a.take(60));
  t.equal(b.available, 40);
  t.ok(b.fits(40));
  t.notOk(b.fits(41));
  t.notOk(b.take(41), 'one byte past the budget is refused');
  t.equal(budget.inFlight, 60, 'a refused take counts nothing');
  t.ok(b.take(40));
  a.release();
  a.release();
  t.equal(budget.inFlight, 40, 'a lease gives back what it took, once');
  t.notOk(a.take(1), 'a released lease takes nothing more');
  b.release();
  t.equal(budget.inFlight, 0);
});

t.test("one key's requests hold at most its share together; another key still has the rest of the budget", async (t) => {
  const budget = createBodyBudget(100, 60);
  const first = budget.lease('hog');
  const second = budget.lease('hog');
  t.ok(first.take(40));
  t.equal(second.available, 20, "what the key's share has left");
  t.ok(second.fits(20));
  t.notOk(second.fits(21));
  t.notOk(second.take(21), "one byte past the key's share is refused");
  t.equal(budget.inFlight, 40, 'a refused take counts nothing');
  t.ok(second.take(20));
  t.same([...budget.inFlightByKey()], [['hog', 60]]);

  const other = budget.lease('app');
  t.equal(other.available, 40, 'another key has the rest of the whole budget');
  t.ok(other.take(40));
  t.notOk(budget.lease('third').take(1), 'the whole budget still holds for all keys');
  t.same(Object.fromEntries(budget.inFlightByKey()), { hog: 60, app: 40 });

  first.release();
  t.equal(second.available, 40, 'what the key gave back it may take again');
  const third = budget.lease('third');
  t.ok(third.take(40), 'or any other key');
  t.equal(second.available, 0, "a key's share left is still within what the whole budget has left");
  third.release();
  t.ok(budget.lease('hog').take(40));
  t.notOk(budget.lease('hog').take(1), 'the key is at its share again');
  second.release();
  other.release();
  t.same(Object.fromEntries(budget.inFlightByKey()), { hog: 40 }, 'a key that holds nothing is not listed');
});

t.test("what a request could hold alone is its key's share, at most the whole budget", async (t) => {
  t.equal(createBodyBudget(100, 60).lease('app').budgetBytes, 60);
  t.equal(createBodyBudget(50, 60).lease('app').budgetBytes, 50, 'a share larger than the budget is the budget');
});
