import t from 'tap';
import { nextDueMs, pickLanes, type LaneView } from '../../src/forwarder/round-robin.js';

const lane = (over: Partial<LaneView> = {}): LaneView => ({ ready: true, inFlight: false, notBeforeMs: 0, ...over });

t.test('serves lanes in turn from where the last turn stopped', async (t) => {
  const lanes = [lane(), lane(), lane(), lane()];
  t.same(pickLanes(lanes, 0, 2, 100), { chosen: [0, 1], nextStart: 2 });
  t.same(pickLanes(lanes, 2, 2, 100), { chosen: [2, 3], nextStart: 0 });
  t.same(pickLanes(lanes, 3, 3, 100), { chosen: [3, 0, 1], nextStart: 2 });
});

t.test('skips lanes without data, already pushing, or in backoff', async (t) => {
  const lanes = [lane({ ready: false }), lane({ inFlight: true }), lane({ notBeforeMs: 500 }), lane()];
  t.same(pickLanes(lanes, 0, 4, 100).chosen, [3]);
  t.same(pickLanes(lanes, 0, 4, 500).chosen, [2, 3], 'a backoff ends at its time');
});

t.test('no free slot, no pick; the turn does not move', async (t) => {
  t.same(pickLanes([lane(), lane()], 1, 0, 0), { chosen: [], nextStart: 1 });
});

t.test('a lane with a backlog gets one slot per turn, like the others', async (t) => {
  const lanes = [lane(), lane(), lane()];
  const served: number[] = [];
  let start = 0;
  for (let turn = 0; turn < 6; turn++) {
    const p = pickLanes(lanes, start, 1, 0);
    served.push(...p.chosen);
    start = p.nextStart;
  }
  t.same(served, [0, 1, 2, 0, 1, 2]);
});

t.test('the next due time is the earliest end of a backoff among lanes with data', async (t) => {
  t.equal(nextDueMs([lane({ notBeforeMs: 300 }), lane({ notBeforeMs: 200 }), lane({ notBeforeMs: 100, ready: false })], 50), 200);
  t.equal(nextDueMs([lane()], 50), null);
});
