/**
 * Masking, end to end: a secret under a masked key (any case, any depth, inside objects and
 * arrays, and as `key=secret`, `"key":"secret"` or `key: secret` in the message) is sent over
 * HTTP to a real LogstackService; it must be in neither the WAL's segment files nor what the Loki
 * stand-in receives, and a partial rule keeps exactly what it says.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { fuzzSettings } from '../support/fuzz-settings.js';
import type { ReceivedEntry } from '../support/loki-stand-in.js';
import { startServiceWithLoki, type RunningService } from '../support/service-with-loki.js';

const fuzz = fuzzSettings({ seed: 5150, runs: 150 });
const TOKEN = 'tok_fuzz_0123456789abcdef';
const ADMIN = 'adm_fuzz_0123456789abcdef';
const REPLACEMENT = '****';

/** How the config below masks each key; the token's override adds the last four. */
type Rule = { kind: 'full' } | { kind: 'keep_prefix'; keep: number } | { kind: 'mask_email' };
const RULES: Record<string, Rule> = {
  password: { kind: 'full' },
  token: { kind: 'full' },
  api_key: { kind: 'full' },
  secret: { kind: 'full' },
  card_number: { kind: 'full' },
  authorization: { kind: 'keep_prefix', keep: 5 },
  email: { kind: 'mask_email' },
  session_ref: { kind: 'full' },
  'x-internal-id': { kind: 'full' },
  account_no: { kind: 'keep_prefix', keep: 3 },
  contact: { kind: 'mask_email' },
};

function run(t: Test, metadataMode: 'structured_metadata' | 'json_line'): Promise<RunningService> {
  return startServiceWithLoki(t, {
    security: {
      admin_token: ADMIN,
      api_keys: {
        [TOKEN]: {
          name: 'fuzz',
          active: true,
          masking: { extra_keys: ['session_ref', 'X-Internal-Id'], partial_rules: { Account_No: { keep_prefix: 3 }, contact: { mask_email: true } } },
        },
      },
    },
    masking: { replacement: REPLACEMENT },
    limits: { max_metadata_depth: 64 },
    loki: { metadata_mode: metadataMode },
  });
}

async function post(url: string, body: unknown, token: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

/** Every segment file of the WAL, concatenated. */
async function walBytes(root: string): Promise<Buffer> {
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.wal'));
  return Buffer.concat(await Promise.all(files.map((f) => readFile(join(root, f)))));
}

/** The string values Loki got for `entry`: structured metadata values, or the leaves of its JSON line. */
function stringLeaves(entry: ReceivedEntry): string[] {
  const leaves = Object.values(entry.structuredMetadata);
  const walk = (value: unknown): void => {
    if (typeof value === 'string') leaves.push(value);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(walk);
  };
  try {
    walk(JSON.parse(entry.line));
  } catch {
    leaves.push(entry.line);
  }
  return leaves;
}

// --- generated cases ---------------------------------------------------------------------------

const isRuleKey = (key: string): boolean => key.toLowerCase() in RULES;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const plainKey = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !FORBIDDEN.has(k) && !isRuleKey(k));
const { tree } = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null)),
  value: fc.oneof({ maxDepth: 2 }, tie('leaf'), tie('tree'), fc.array(tie('value'), { maxLength: 3 })),
  tree: fc.dictionary(plainKey, tie('value'), { maxKeys: 4 }),
}));

/** A masked key in any mix of cases. */
const maskedKey = fc
  .tuple(fc.constantFrom(...Object.keys(RULES)), fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }))
  .map(([name, upper]) => ({ name, spelled: [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') }));

/** Steps from `metadata` down to the secret's object: a key of an object, or a place in an array. */
const step = fc.oneof(plainKey.map((key) => ({ key })), fc.nat({ max: 2 }).map((at) => ({ at })));

interface Case {
  readonly metadata: Record<string, unknown>;
  readonly key: string;
  readonly rule: Rule;
  readonly secret: string;
  /** Must appear nowhere: it is in the part of the secret no rule keeps. */
  readonly marker: string;
  /** What the value must become, for partial rules. */
  readonly expected: string | null;
  /** The key and the secret written in free text: `key=secret`, `"key":"secret"`, `key: secret`. */
  readonly inText: string;
}

let sequence = 0;
const letters = (min: number, max: number) => fc.stringMatching(new RegExp(`^[a-z]{${min},${max}}$`));

const maskingCase = fc
  .record({
    siblings: tree,
    path: fc.array(step, { maxLength: 4 }),
    neighbours: fc.array(tree, { minLength: 3, maxLength: 3 }),
    key: maskedKey,
    prefix: letters(8, 8),
    tail: fc.string({ unit: 'grapheme', minLength: 0, maxLength: 20 }),
    shape: fc.constantFrom('equals', 'json', 'colon'),
    first: letters(1, 1),
    last: letters(1, 1),
    domain: letters(2, 10),
  })
  .map(({ siblings, path, neighbours, key, prefix, tail, first, last, domain, shape }): Case => {
    // Unique per run, so that finding it means this run's secret leaked.
    const marker = `Zq${fuzz.seed.toString(36)}x${(sequence++).toString(36)}Qz`;
    const rule = RULES[key.name]!;
    let secret: string;
    let expected: string | null = null;
    if (rule.kind === 'keep_prefix') {
      secret = prefix.slice(0, rule.keep) + marker + tail;
      expected = prefix.slice(0, rule.keep) + REPLACEMENT;
    } else if (rule.kind === 'mask_email') {
      const local = `${first}${marker}${last}`;
      secret = `${local}@${domain}.example`;
      expected = `${first}${'*'.repeat(local.length - 2)}${last}@${domain}.example`;
    } else {
      secret = `${prefix}${marker}${tail}`;
    }
    let node: unknown = { [key.spelled]: secret };
    [...path].reverse().forEach((s, i) => {
      if ('key' in s) node = { ...neighbours[i % 3], [s.key]: node };
      else node = [...Array.from({ length: s.at }, (_, j) => neighbours[(i + j) % 3]), node];
    });
    const metadata = Array.isArray(node) ? { ...siblings, list: node } : { ...siblings, ...(node as Record<string, unknown>) };
    const inText = shape === 'json' ? `body {${JSON.stringify(key.spelled)}:${JSON.stringify(secret)}}` : shape === 'colon' ? `login, ${key.spelled}: ${secret}` : `user=x ${key.spelled}=${secret}`;
    return { metadata, key: key.spelled, rule, secret, marker, expected, inText };
  });

function describe(c: Case): string {
  return `${JSON.stringify(c.secret)} under ${JSON.stringify(c.key)} (${c.rule.kind}) in ${JSON.stringify(c.metadata).slice(0, 400)} (${fuzz.replay})`;
}

for (const mode of ['structured_metadata', 'json_line'] as const) {
  t.test(`masked values reach neither the WAL nor Loki, ${mode} (seed ${fuzz.seed}, ${fuzz.runs} runs)`, async (t) => {
    const r = await run(t, mode);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(maskingCase, async (c) => {
        runs++;
        // The same secret under the same name in the message too, as a named value of free text.
        const message = `masking run ${runs} ${c.inText}`;
        // Taken before the post: the forwarder may deliver before the flush is asked for.
        const before = r.loki.received().length;
        const sent = await post(`${r.url}/v1/logs:ingest`, { entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message, service: 'fuzz', env: 'test', metadata: c.metadata }] }, TOKEN);
        if (sent.status !== 202) throw new Error(`answered ${sent.status} ${sent.text} for ${describe(c)}`);
        if ((await walBytes(r.root)).includes(c.marker)) throw new Error(`the WAL holds the secret: ${describe(c)}`);

        const flushed = await post(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=10`, undefined, ADMIN);
        if (flushed.status !== 200) throw new Error(`flush answered ${flushed.status} ${flushed.text}`);
        const got = r.loki.received().slice(before);
        const mine = got.find((e) => e.line.includes(`masking run ${runs} `));
        if (mine === undefined) throw new Error(`Loki did not get the entry of ${describe(c)}`);
        for (const e of got) {
          if (e.line.includes(c.marker) || Object.values(e.structuredMetadata).some((v) => v.includes(c.marker))) throw new Error(`Loki got the secret: ${describe(c)}`);
        }
        if (c.expected !== null && !stringLeaves(mine).includes(c.expected)) {
          throw new Error(`Loki did not get ${JSON.stringify(c.expected)}, all the rule keeps, among ${JSON.stringify(stringLeaves(mine))}: ${describe(c)}`);
        }
      }),
      fuzz.params(),
    );
    t.pass(`${runs} secrets stayed masked`);
  });
}
