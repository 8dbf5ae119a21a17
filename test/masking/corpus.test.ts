/**
 * The labelled corpus (test/fixtures/masking-corpus.ts) held to the figures docs/benchmarks.md
 * records: every rule catches all of its cases, with the defaults and alone, and masking changes
 * none of the 20,000 ordinary lines (the target is at most 1 in 10,000).
 */
import t from 'tap';
import { RULE_IDS } from '../../src/masking/rules.js';
import { maskingCorpus } from '../fixtures/masking-corpus.js';
import { evaluateCorpus } from '../fixtures/masking-corpus-evaluation.js';
import { testConfig } from '../support/config.js';

const corpus = maskingCorpus();
const figures = evaluateCorpus(corpus, testConfig().masking);

t.test('the corpus has thousands of cases, every rule several shapes of its secret', async (t) => {
  t.ok(corpus.secrets.length >= 3000, `${corpus.secrets.length} cases with a secret`);
  t.equal(corpus.ordinary.length, 20_000);
  for (const rule of RULE_IDS) {
    const shapes = new Set(corpus.secrets.filter((c) => c.rule === rule).map((c) => c.shape));
    t.ok(shapes.size >= 3, `${rule}: ${shapes.size} shapes`);
  }
  t.same(maskingCorpus().secrets.slice(0, 50), corpus.secrets.slice(0, 50), 'the same seed gives the same corpus');
});

t.test('recall per rule is 100%, with the defaults and with the rule alone', async (t) => {
  for (const rule of RULE_IDS) {
    const recall = figures.recall.get(rule)!;
    const misses = recall.misses.slice(0, 3).map((m) => `${m.alone ? 'alone' : 'defaults'}, ${m.case.shape}: ${(m.case.text ?? JSON.stringify(m.case.metadata)).slice(0, 160)} → ${m.output.slice(0, 160)}`);
    t.equal(recall.caught, recall.cases, `${rule} with the defaults ${misses.join(' | ')}`);
    t.equal(recall.caughtAlone, recall.cases, `${rule} alone`);
  }
});

t.test('no ordinary line is changed', async (t) => {
  const shown = figures.falsePositives.slice(0, 5).map((f) => `${f.case.shape}: ${(f.case.text ?? JSON.stringify(f.case.metadata)).slice(0, 160)} → ${f.output.slice(0, 160)}`);
  t.equal(figures.falsePositives.length, 0, shown.join(' | '));
});
