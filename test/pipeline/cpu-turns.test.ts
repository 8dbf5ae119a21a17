import t from 'tap';
import { CpuTurns, ITERATIONS_BETWEEN_TURNS, TURN_MS } from '../../src/pipeline/cpu-turns.js';

/** Busy for `ms` of the clock, as masking is. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

t.test('a long piece of work gives the event loop back between its steps', async (t) => {
  const turns = new CpuTurns();
  let timerFiredAtStep = -1;
  let step = 0;
  setTimeout(() => (timerFiredAtStep = step), 0);
  await turns.run('a', async () => {
    for (step = 0; step < 20; step++) {
      const pause = turns.pause();
      if (pause !== undefined) await pause;
      spin(TURN_MS / 4);
    }
  });
  t.ok(timerFiredAtStep > 0 && timerFiredAtStep < 20, `a timer due at once ran during the work (at step ${timerFiredAtStep} of 20)`);
});

/** Counts the iterations of the event loop (one check phase each) until stopped. */
function countIterations(): { readonly count: number; stop(): void } {
  const counter = { count: 0, running: true, stop: () => (counter.running = false) };
  const tick = (): void => {
    counter.count++;
    if (counter.running) setImmediate(tick);
  };
  setImmediate(tick);
  return counter;
}

t.test('between two turns the event loop iterates several times: node accepts one connection per iteration', async (t) => {
  const turns = new CpuTurns();
  const iterations = countIterations();
  const between: number[] = [];
  await turns.run('a', async () => {
    for (let step = 0; step < 3; step++) {
      spin(TURN_MS);
      const before = iterations.count;
      const pause = turns.pause();
      if (pause !== undefined) await pause;
      between.push(iterations.count - before);
    }
  });
  iterations.stop();
  t.ok(between.every((n) => n >= ITERATIONS_BETWEEN_TURNS - 1), `iterations between turns: ${between.join(', ')}`);
});

t.test('a request that follows a long one waits for the loop; after a short one it continues the turn', async (t) => {
  const turns = new CpuTurns();
  const iterations = countIterations();
  const startedAt: Record<string, number> = {};
  const work = (name: string, ms: number) => async () => {
    startedAt[name] = iterations.count;
    spin(ms);
  };
  await Promise.all([turns.run('a', work('long', TURN_MS)), turns.run('b', work('after long', 0)), turns.run('c', work('after short', 0))]);
  iterations.stop();
  t.ok(startedAt['after long']! - startedAt['long']! >= ITERATIONS_BETWEEN_TURNS - 1, 'the loop iterated before the request after the long one');
  t.equal(startedAt['after short'], startedAt['after long'], 'the request after a short one ran in the same turn');
});

t.test('a short piece of work runs without pausing', async (t) => {
  const turns = new CpuTurns();
  const pauses = await turns.run('a', async () => {
    let paused = 0;
    for (let i = 0; i < 100; i++) if (turns.pause() !== undefined) paused++;
    return paused;
  });
  t.equal(pauses, 0);
});

t.test("one key's pieces of work run one at a time, in order, even when one fails", async (t) => {
  const turns = new CpuTurns();
  const events: string[] = [];
  const work = (name: string, fail = false) => async () => {
    events.push(`${name} starts`);
    for (let i = 0; i < 6; i++) {
      const pause = turns.pause();
      if (pause !== undefined) await pause;
      spin(TURN_MS / 2);
    }
    events.push(`${name} ends`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const results = await Promise.allSettled([turns.run('key', work('a')), turns.run('key', work('b', true)), turns.run('key', work('c'))]);
  t.same(events, ['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
  t.match(results, [{ status: 'fulfilled', value: 'a' }, { status: 'rejected', reason: { message: 'b failed' } }, { status: 'fulfilled', value: 'c' }]);
});

t.test('keys take turns: a key with many requests waiting makes another wait for one of them, not for all', async (t) => {
  const turns = new CpuTurns();
  const order: string[] = [];
  const work = (name: string) => async () => {
    const pause = turns.pause();
    if (pause !== undefined) await pause;
    order.push(name);
  };
  const all = [turns.run('noisy', work('noisy 1')), turns.run('noisy', work('noisy 2')), turns.run('noisy', work('noisy 3')), turns.run('quiet', work('quiet 1')), turns.run('other', work('other 1')), turns.run('quiet', work('quiet 2'))];
  await Promise.all(all);
  // In turn, in the order each key began waiting: noisy, quiet, other.
  t.same(order, ['noisy 1', 'quiet 1', 'noisy 2', 'other 1', 'quiet 2', 'noisy 3']);
});

t.test('work whose request was cancelled before its turn does not run; the next does, even after 20,000 cancelled', async (t) => {
  const turns = new CpuTurns();
  const ran: string[] = [];
  let finishFirst!: () => void;
  const first = turns.run('a', () => new Promise<void>((resolve) => (finishFirst = () => (ran.push('first'), resolve()))));
  const gone = new AbortController();
  const cancelled = Array.from({ length: 20_000 }, (_, i) => turns.run('a', async () => void ran.push(`cancelled ${i}`), gone.signal));
  const kept = turns.run('a', async () => void ran.push('kept'), new AbortController().signal);
  gone.abort(new Error('the client went away'));
  finishFirst();
  await first;
  const outcomes = await Promise.allSettled(cancelled);
  await kept;
  t.same(ran, ['first', 'kept'], 'only the work not cancelled ran');
  t.ok(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).message === 'the client went away'), 'each cancelled one rejects with the reason');
});
