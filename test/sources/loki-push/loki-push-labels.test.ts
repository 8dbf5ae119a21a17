import t from 'tap';
import { labelProblems } from '../../../src/loki/limits.js';
import { createLabelFilter, maxLabelTextLength, parseLabelText } from '../../../src/sources/loki-push/loki-push-labels.js';
import { testConfig } from '../../support/config.js';

const pushConfig = (overrides: Record<string, unknown> = {}) => testConfig({ loki_push: overrides }).loki_push;

t.test('label text is read as Loki reads it', async (t) => {
  const cases: Array<[string, Array<[string, string]>]> = [
    ['{}', []],
    ['{job="shop"}', [['job', 'shop']]],
    ['{job="shop", env="prod"}', [['job', 'shop'], ['env', 'prod']]],
    ['{level="info",job="x"}', [['level', 'info'], ['job', 'x']]],
    ['  { job = "shop" ,\n env="prod" }  ', [['job', 'shop'], ['env', 'prod']]],
    ['{msg="a \\"quoted\\" \\\\ word\\n"}', [['msg', 'a "quoted" \\ word\n']]],
    ['{v="\\x41\\101\\u00e9\\U0001F600\\t"}', [['v', 'AAé😀\t']]],
    ['{v="\\xc3\\xa9"}', [['v', 'é']]],
    ['{v=`raw \\n "text"`}', [['v', 'raw \\n "text"']]],
    ['{v="ünïcödé"}', [['v', 'ünïcödé']]],
    ['{bad-name="x"}', [['bad-name', 'x']]],
  ];
  for (const [text, pairs] of cases) t.same(parseLabelText(text), { ok: true, pairs }, text);
});

t.test('text that is not a label set is refused with where, never with a value', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['job="shop"', /does not start with \{/],
    ['{job="shop"', /a , or \} is missing/],
    ['{job="shop" env="x"}', /a , or \} is missing at character 12/],
    ['{job!="shop"}', /label 0 is not name="value"/],
    ['{job=~"shop"}', /label 0 is not name="value"/],
    ['{job=shop}', /value of label 0 is not a quoted string/],
    ['{job="sh\nop"}', /does not end/],
    ['{job="secret\\q"}', /unknown escape/],
    ['{job="\\xZZ"}', /bad escape/],
    ['{job="\\400"}', /bad octal escape/],
    ['{job="\\uD800"}', /invalid code point/],
    ['{job="x",}', /a label name is missing/],
    ['{job="x"} trailing', /text after the closing \}/],
    ['', /does not start with \{/],
  ];
  for (const [text, reason] of cases) {
    const parsed = parseLabelText(text);
    t.match(parsed, { ok: false, reason }, JSON.stringify(text));
    if (!parsed.ok) t.notOk(parsed.reason.includes('secret'), 'no value quoted');
  }
});

t.test('the allowlist keeps, the denylist drops', async (t) => {
  const all = createLabelFilter(pushConfig());
  t.ok(all('anything'), 'no lists: every label is kept');
  const lists = createLabelFilter(pushConfig({ label_allowlist: ['job', 'pod'], label_denylist: ['pod', 'filename'] }));
  t.same(['job', 'pod', 'filename', 'env'].filter(lists), ['job']);
  t.same(['job', 'filename'].filter(createLabelFilter(pushConfig({ label_denylist: ['filename'] }))), ['job']);
});

t.test("Loki's limits on a stream's labels", async (t) => {
  const config = pushConfig({ max_label_names_per_series: 3, max_label_name_length: 12, max_label_value_length: 5 });
  t.same(labelProblems([['job', 'shop'], ['env', 'prod']], config), []);
  t.same(labelProblems([['a', '1'], ['b', '2'], ['c', '3'], ['service_name', 'x']], config), [], 'service_name does not count, as in Loki');
  t.match(labelProblems([], config), [/no labels/]);
  t.match(labelProblems([['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']], config), [/4 labels; Loki accepts at most 3/]);
  t.match(labelProblems([['1abc', 'v']], config), [/label 0 has an invalid name/]);
  t.match(labelProblems([['job', 'v'], ['bad-name', 'v']], config), [/label 1 has an invalid name/]);
  t.match(labelProblems([['__name__', 'v']], config), [/label "__name__" starts with __/]);
  t.match(labelProblems([['a_long_label_name', 'v']], config), [/label "a_long_label_name" has a name longer than 12 bytes/]);
  t.match(labelProblems([['job', 'éééé']], config), [/label "job" has a value longer than 5 bytes/], 'UTF-8 bytes, not characters');
  t.match(labelProblems([['job', 'a'], ['job', 'b']], config), [/label "job" appears twice/]);
});

t.test('escapes are decoded whole, however many there are', async (t) => {
  const escaped = '\\x41\\101\\u00e9\\U0001F600\\n\\"\\xc3\\xa9z';
  const value = 'AAé😀\n"éz';
  t.same(parseLabelText(`{v="${escaped.repeat(5000)}", w="x\\ty"}`), { ok: true, pairs: [['v', value.repeat(5000)], ['w', 'x\ty']] });
});

t.test('label text longer than labels within the limits could be is refused before it is read', async (t) => {
  const config = pushConfig();
  const max = maxLabelTextLength(config);
  t.equal(max, 147_714, "the default: 16 labels of Loki's longest name and a value of 2,048 bytes in escapes");
  // The longest text of labels Loki accepts: 15 and service_name, each value every byte an escape.
  const value = '\\x41'.repeat(config.max_label_value_length);
  const labels = Array.from({ length: config.max_label_names_per_series }, (_, i) => `l${String(i).padStart(config.max_label_name_length - 1, '0')}="${value}"`);
  labels.push(`service_name="${value}"`);
  const longest = `{${labels.join(', ')}}`;
  t.ok(longest.length <= max, `${longest.length} characters`);
  const parsed = parseLabelText(longest, max);
  t.ok(parsed.ok, 'the longest valid text is read');
  if (parsed.ok) t.same(labelProblems(parsed.pairs, config), []);

  const atBound = `{a="${'x'.repeat(max - 6)}"}`;
  t.equal(atBound.length, max);
  t.match(parseLabelText(atBound, max), { ok: true });
  const over = `{a="${'\\n'.repeat((max - 6) / 2)}x"}`;
  t.equal(over.length, max + 1);
  t.match(parseLabelText(over, max), { ok: false, reason: /has labels of 147715 characters; at most 147714/ });
});
