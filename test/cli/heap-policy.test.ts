import t from 'tap';
import { HEAP_GROWING_PERCENT, heapGrowingFlag } from '../../src/cli/heap-policy.js';

t.test('the service asks V8 for its conservative heap growth when node was started without a choice', async (t) => {
  t.equal(heapGrowingFlag([]), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  t.equal(heapGrowingFlag(['--max-old-space-size=160', '--enable-source-maps']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  t.ok(HEAP_GROWING_PERCENT > 0 && HEAP_GROWING_PERCENT < 100, 'a growth V8 honours: 0 would hand the choice back to its default of up to 4x');
});

t.test("an operator's own heap growth on the command line is kept, in either spelling", async (t) => {
  t.equal(heapGrowingFlag(['--heap-growing-percent=100']), null);
  t.equal(heapGrowingFlag(['--heap_growing_percent=50']), null);
  t.equal(heapGrowingFlag(['--heap-growing-percent', '80']), null);
  t.equal(heapGrowingFlag(['--heap-growing-percentile=5']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, 'another name is not the flag');
});
