import t from 'tap';
import { createBodyBudget } from '../../src/http/body-budget.js';

t.test('a lease gives back part of what it holds, never more than it holds', async (t) => {
  const budget = createBodyBudget(100);
  const a = budget.lease();
  const b = budget.lease();
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
  const budget = createBodyBudget(100);
  const a = budget.lease();
  const b = budget.lease();
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
