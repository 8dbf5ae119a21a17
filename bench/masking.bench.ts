/**
 * Masking, measured:
 * - on the labelled corpus (test/fixtures/masking-corpus.ts): recall per rule, with the defaults
 *   and with the rule alone; false positives per 10,000 ordinary lines; the cost per line;
 * - on the shared sample `ingest-100.json` with the default policy: whole entries and strings;
 * - on a 250 kB line of `name=value` pairs whose names are all new, as a client that invents
 *   them sends it (the key rules judge each name once, then cache it);
 * - on 100 kB of text made to make each rule backtrack or read back and forth
 *   (test/fixtures/masking-hostile-inputs.ts): the worst input of each rule, in ms. Linear rules
 *   take about the same on any 100 kB.
 */
import { readFileSync } from 'node:fs';
import { maskObject } from '../src/masking/mask-value.js';
import { compileMaskingPolicy, type MaskingPolicy } from '../src/masking/policy.js';
import { RULE_IDS } from '../src/masking/rules.js';
import type { IngestEntry } from '../src/pipeline/types.js';
import { maskEntry } from '../src/sources/native/mask-entry.js';
import { evaluateCorpus, maskedOutput, ruleAlone } from '../test/fixtures/masking-corpus-evaluation.js';
import { maskingCorpus } from '../test/fixtures/masking-corpus.js';
import { hostileInputs } from '../test/fixtures/masking-hostile-inputs.js';
import { cpuMicrosPerItem, perSecond, testConfigForBench } from './bench-config.js';
import type { Scenario } from './run.js';

const SAMPLE = new URL('../test/fixtures/samples/ingest-100.json', import.meta.url);
const HOSTILE_BYTES = 100_000;
/** A line as long as limits.max_message_bytes lets one be, about. */
const INVENTED_LINE_BYTES = 250_000;

function stringsOf(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'object' && value !== null) for (const child of Object.values(value)) stringsOf(child, out);
  return out;
}

/** The slowest input, each timed at its best of five runs: the machine's noise only adds. */
function worstMs(policy: MaskingPolicy, inputs: readonly string[]): number {
  let worst = 0;
  for (const text of inputs) {
    // Warmed up first: a function V8 has not optimised yet takes many times as long.
    for (let i = 0; i < 3; i++) policy.maskText(text);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const start = process.hrtime.bigint();
      policy.maskText(text);
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
    }
    worst = Math.max(worst, best);
  }
  return worst;
}

/**
 * A line of `name=value` pairs whose names are all new (`αβ1kγ=v αβ1lγ=v …`, or with `suffix`
 * after each name), as a client that invents its names sends it: the median ms of masking
 * one, each a line never seen before, so that no name is cached.
 */
function inventedNamesMs(policy: MaskingPolicy, suffix: string): number {
  let serial = 0;
  const line = (): string => {
    const parts: string[] = [];
    let bytes = 0;
    while (bytes < INVENTED_LINE_BYTES) {
      const pair = `αβ${(serial++).toString(36)}γ${suffix}=v `;
      parts.push(pair);
      bytes += Buffer.byteLength(pair);
    }
    return parts.join('');
  };
  const times: number[] = [];
  for (let i = 0; i < 13; i++) {
    const text = line();
    const start = process.hrtime.bigint();
    policy.maskText(text);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  // The first three warm up.
  const measured = times.slice(3).sort((a, b) => a - b);
  return measured[measured.length >> 1]!;
}

export default {
  name: 'masking',
  async run(): Promise<Record<string, number | string>> {
    const { masking } = testConfigForBench();
    const policy = compileMaskingPolicy(masking);
    const figures: Record<string, number | string> = {};

    const corpus = maskingCorpus();
    const evaluated = evaluateCorpus(corpus, masking);
    let cases = 0;
    let caught = 0;
    for (const [rule, recall] of evaluated.recall) {
      cases += recall.cases;
      caught += Math.min(recall.caught, recall.caughtAlone);
      figures[`recall ${rule} (cases, defaults / alone)`] = `${recall.cases}: ${((100 * recall.caught) / recall.cases).toFixed(1)}% / ${((100 * recall.caughtAlone) / recall.cases).toFixed(1)}%`;
    }
    figures['corpus: secret cases / caught by defaults and alone'] = `${cases} / ${caught}`;
    figures['corpus: ordinary lines'] = evaluated.ordinary;
    figures['corpus: false positives per 10,000 ordinary lines'] = (evaluated.falsePositives.length * 10_000) / evaluated.ordinary;
    const texts = corpus.ordinary.filter((c) => c.text !== undefined).map((c) => c.text!);
    const objects = corpus.ordinary.filter((c) => c.metadata !== undefined).map((c) => c.metadata!);
    figures['corpus: CPU µs per ordinary line of text'] = await cpuMicrosPerItem(texts.length, () => {
      for (const text of texts) policy.maskText(text);
    });
    figures['corpus: CPU µs per ordinary metadata object'] = await cpuMicrosPerItem(objects.length, () => {
      for (const metadata of objects) maskObject(metadata, policy);
    });
    figures['corpus: CPU µs per case with a secret'] = await cpuMicrosPerItem(corpus.secrets.length, () => {
      for (const c of corpus.secrets) maskedOutput(c, policy);
    });

    const entries = (JSON.parse(readFileSync(SAMPLE, 'utf8')) as { entries: IngestEntry[] }).entries;
    const strings = stringsOf(entries, []);
    const maskRate = await perSecond(entries.length, () => {
      for (const entry of entries) maskEntry(entry, policy);
    });
    const stringRate = await perSecond(strings.length, () => {
      for (const text of strings) policy.maskText(text);
    });
    figures['sample: µs per entry'] = Number((1e6 / maskRate).toFixed(2));
    figures['sample: ns per string'] = Math.round(1e9 / stringRate);
    figures['sample: CPU µs per entry'] = await cpuMicrosPerItem(entries.length, () => {
      for (const entry of entries) maskEntry(entry, policy);
    });
    figures['sample: CPU ns per string'] = Math.round(
      1000 *
        (await cpuMicrosPerItem(strings.length, () => {
          for (const text of strings) policy.maskText(text);
        })),
    );

    figures['250 kB line of invented names: median ms'] = Number(inventedNamesMs(policy, '').toFixed(1));
    figures['250 kB line of invented names ending _key: median ms'] = Number(inventedNamesMs(policy, '_key').toFixed(1));

    let worstRule = '';
    let worstMsOverall = 0;
    for (const rule of RULE_IDS) {
      const ms = worstMs(compileMaskingPolicy(ruleAlone(masking, rule)), hostileInputs(rule, HOSTILE_BYTES));
      figures[`hostile 100 kB, ${rule}: worst ms`] = Number(ms.toFixed(2));
      if (ms > worstMsOverall) [worstRule, worstMsOverall] = [rule, ms];
    }
    figures['hostile 100 kB, all rules on: worst ms'] = Number(worstMs(compileMaskingPolicy({ ...masking, enabled_rules: [...RULE_IDS] }), RULE_IDS.flatMap((rule) => hostileInputs(rule, HOSTILE_BYTES))).toFixed(2));
    figures['hostile 100 kB: slowest rule alone'] = `${worstRule} (${worstMsOverall.toFixed(2)} ms)`;
    return figures;
  },
} satisfies Scenario;
