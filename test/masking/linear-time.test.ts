/**
 * Masking takes time linear in its input, whatever the input: each rule, alone, masks every text
 * made against it (test/fixtures/masking-hostile-inputs.ts) at two lengths, and the cost may grow
 * no faster than the length does. Not a timed test: no duration is asserted, only how the cost
 * grows, in CPU time (the clock's time on a busy machine counts other processes too). From 8 kB to 64 kB linear work grows 8 times and quadratic work 64 times; the bound, 20
 * times, leaves room for a busy machine, and a text over it is measured twice more before it
 * counts (a super-linear one stays over it every time, noise does not).
 */
import t from 'tap';
import { compileMaskingPolicy, type MaskingPolicy } from '../../src/masking/policy.js';
import { RULE_IDS } from '../../src/masking/rules.js';
import { ruleAlone } from '../fixtures/masking-corpus-evaluation.js';
import { hostileInputs } from '../fixtures/masking-hostile-inputs.js';
import { testConfig } from '../support/config.js';

const SHORT_CHARS = 8_000;
const GROWTH = 8;
const MAX_COST_GROWTH = 20;
const ATTEMPTS = 3;
/**
 * A measure repeats the masking until this much CPU time is spent. The process's CPU time is
 * counted in microseconds here (Linux accounts it precisely), so a millisecond is a thousand of
 * them; a measure that noise inflates is taken again (ATTEMPTS).
 */
const MIN_MEASURE_US = 1_000;
/** Measures of one text, the least of them kept. */
const MEASURES = 3;

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * CPU microseconds one masking of `text` takes: the least of its measures. CPU time, not the
 * clock's: on a busy machine the clock also counts the time other processes had the core.
 */
function cost(policy: MaskingPolicy, text: string): number {
  let least = Infinity;
  for (let measure = 0; measure < MEASURES; measure++) {
    let runs = 0;
    const start = cpuMicros();
    let spent = 0;
    while (spent < MIN_MEASURE_US) {
      policy.maskText(text);
      runs++;
      spent = cpuMicros() - start;
    }
    least = Math.min(least, spent / runs);
  }
  return least;
}

/** How many times the cost of the long text is that of the short one. */
function growth(policy: MaskingPolicy, short: string, long: string): number {
  // Optimised first: a function V8 has not compiled yet costs many times as much.
  for (let i = 0; i < 3; i++) policy.maskText(short);
  return cost(policy, long) / cost(policy, short);
}

t.test('the cost of masking grows with the length of hostile text, no faster, for every rule', async (t) => {
  const masking = testConfig().masking;
  let texts = 0;
  for (const rule of RULE_IDS) {
    const policy = compileMaskingPolicy(ruleAlone(masking, rule));
    const shorts = hostileInputs(rule, SHORT_CHARS);
    const longs = hostileInputs(rule, SHORT_CHARS * GROWTH);
    shorts.forEach((short, i) => {
      let least = Infinity;
      for (let attempt = 0; attempt < ATTEMPTS && least > MAX_COST_GROWTH; attempt++) least = Math.min(least, growth(policy, short, longs[i]!));
      texts++;
      if (least > MAX_COST_GROWTH) t.fail(`${rule}, text #${i} (${JSON.stringify(short.slice(0, 24))}…): ${GROWTH} times as long costs ${least.toFixed(1)} times as much`);
    });
  }
  t.ok(texts > 500, `${texts} texts, each at ${SHORT_CHARS} and ${SHORT_CHARS * GROWTH} characters`);
});
