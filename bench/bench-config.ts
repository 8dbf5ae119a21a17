import { Session } from 'node:inspector/promises';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from '../src/config/schema.js';

/** The schema's defaults: what a user gets without configuring masking or limits. */
export function testConfigForBench(): Config {
  return Value.Default(ConfigSchema, {}) as Config;
}

const SECONDS_PER_FIGURE = 2.5;

/**
 * What a round does: handles its items, and the promise of a round that does its work in turns
 * (a pipeline's `prepare`) is awaited.
 */
export type Round = () => unknown;

/** Items per second of `round` (each handles `size` items), after a warm-up, over about 2.5 s. */
export async function perSecond(size: number, round: Round): Promise<number> {
  for (let i = 0; i < 200; i++) await round();
  let items = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SECONDS_PER_FIGURE * 1e9);
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) await round();
    items += 20 * size;
    now = process.hrtime.bigint();
  }
  return Math.round(items / (Number(now - start) / 1e9));
}

/** CPU time of one measure: long enough that scheduling and accounting ticks are small in it. */
const CPU_MEASURE_MICROS = 50_000;

async function cpuMicrosOf(rounds: number, round: Round): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await round();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/**
 * CPU microseconds per item of `round` (each handles `size` items): the least of ten measures of
 * this process's user and system time, each measure as many rounds as take about 50 ms, after
 * a warm-up of twice that. Unlike a rate by the clock, other work on the machine hardly moves
 * it, so builds can be compared on a busy machine.
 */
export async function cpuMicrosPerItem(size: number, round: Round): Promise<number> {
  let rounds = 1;
  let used = await cpuMicrosOf(rounds, round);
  while (used < CPU_MEASURE_MICROS / 10) {
    rounds *= 2;
    used = await cpuMicrosOf(rounds, round);
  }
  rounds = Math.max(1, Math.round((rounds * CPU_MEASURE_MICROS) / used));
  await cpuMicrosOf(2 * rounds, round);
  let least = Infinity;
  for (let measure = 0; measure < 10; measure++) {
    least = Math.min(least, (await cpuMicrosOf(rounds, round)) / (rounds * size));
  }
  return Number(least.toFixed(3));
}

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

/**
 * Heap bytes allocated per item by `round` (each handles `size` items), garbage included: V8's
 * sampling heap profiler, keeping the samples of objects already collected, over 1,000 rounds.
 * What the young generation has to collect per entry, whatever the machine's speed.
 */
export async function allocatedPerItem(size: number, round: Round): Promise<number> {
  for (let i = 0; i < 200; i++) await round();
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const rounds = 1000;
    for (let i = 0; i < rounds; i++) await round();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const total = (node: SamplingNode): number => node.children.reduce((sum, child) => sum + total(child), node.selfSize);
    return Math.round(total(profile.head as SamplingNode) / (rounds * size));
  } finally {
    session.disconnect();
  }
}
