import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from '../src/config/schema.js';

/** The schema's defaults: what a user gets without configuring masking or limits. */
export function testConfigForBench(): Config {
  return Value.Default(ConfigSchema, {}) as Config;
}

const SECONDS_PER_FIGURE = 2.5;

/** Items per second of `round` (each handles `size` items), after a warm-up, over about 2.5 s. */
export function perSecond(size: number, round: () => void): number {
  for (let i = 0; i < 200; i++) round();
  let items = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SECONDS_PER_FIGURE * 1e9);
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) round();
    items += 20 * size;
    now = process.hrtime.bigint();
  }
  return Math.round(items / (Number(now - start) / 1e9));
}
