import { readFileSync } from 'node:fs';
import t from 'tap';
import { ConfigSchema } from '../../src/config/schema.js';
import { enabledRules, LEGACY_PATTERN_RULES, RULE_IDS, RULES } from '../../src/masking/rules.js';
import { TOKEN_FORMATS } from '../../src/masking/token-formats.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('every rule has one entry in the library, and every token format a rule', async (t) => {
  t.equal(RULES.size, RULE_IDS.length);
  for (const id of RULE_IDS) t.equal(RULES.get(id)?.id, id);
  for (const format of TOKEN_FORMATS) t.ok(RULES.get(format.rule)?.kind === 'value', `${format.prefix} belongs to a value rule`);
  for (const rule of Object.values(LEGACY_PATTERN_RULES)) t.ok(RULES.has(rule));
});

t.test("the README's masking table lists every rule, what it finds, keeps, and its default", async (t) => {
  const rows = new Map<string, string[]>();
  for (const line of README.split('\n')) {
    const cells = /^\| `([a-z0-9-]+)` \| (name|value) \| (.*) \| (.*) \| (on|off) \|$/.exec(line);
    if (cells !== null) rows.set(cells[1]!, cells.slice(2));
  }
  t.same([...rows.keys()], [...RULE_IDS], 'the same rules, in the same order');
  for (const [id, rule] of RULES) {
    t.same(rows.get(id), [rule.kind === 'key' ? 'name' : 'value', rule.finds, rule.keeps, rule.enabledByDefault ? 'on' : 'off'], id);
  }
});

t.test('the config schema takes every rule id, and only those', async (t) => {
  const items = (ConfigSchema.properties.masking.properties.disabled_rules as unknown as { items: { anyOf: Array<{ const: string }> } }).items.anyOf.map((b) => b.const);
  t.same(items, [...RULE_IDS]);
});

t.test('the rules in force: defaults, then each layer of disabled and enabled ids', async (t) => {
  const defaults = enabledRules([]);
  t.ok(defaults.has('card-number'));
  t.notOk(defaults.has('email-address'));
  const layered = enabledRules([{ disabled: ['jwt', 'card-number'], enabled: ['email-address'] }, { disabled: ['email-address'], enabled: ['jwt'] }]);
  t.ok(layered.has('jwt'), 'a later layer switches a rule back on');
  t.notOk(layered.has('card-number'));
  t.notOk(layered.has('email-address'), 'or off');
});
