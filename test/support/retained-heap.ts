import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap what `decode` returns retains (its result must not be undefined), everything it was made from kept alive too. */
export function retainedBy(decode: () => unknown): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = decode();
  gc();
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  if (kept === undefined) throw new TypeError('nothing was decoded');
  return retained;
}
