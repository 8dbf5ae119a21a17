/**
 * JSON bodies of tiny values, several at once, under the heap limit the StatefulSet ships
 * (`--max-old-space-size=160`): 5 MB of JSON parses into well over 100 MB of objects, so what
 * JSON.parse will hold is charged to the body budget before it runs. Those over the budget are
 * refused unparsed; the largest that fit are parsed one budget at a time. The process lives, its
 * peak RSS grows by at most a stated multiple, nothing is written, and /healthz answers
 * throughout.
 */
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { jsonParseCost } from '../../src/http/json-parse-cost.js';
import { HOSTILE_TOKEN, mib, startHostileService, type HostileService, type Measured } from './harness.js';

const BUDGET = 32 * 1024 * 1024;
const ATTACK_BYTES = 5_000_000;
/** Requests of each shape sent at once. */
const AT_ONCE = 3;
/** Peak RSS the attack may add: a fixed allowance for the service's own garbage, plus this many times the bytes sent. */
const RSS_ALLOWANCE = 32 * 1024 * 1024;
const RSS_PER_BODY_BYTE = 2;
/** Peak RSS bodies parsed one after another may add, in body budgets. */
const PARSED_RSS_PER_BUDGET = 4;

interface Shape {
  readonly path: string;
  /** A body of about `bytes` bytes. */
  readonly body: (bytes: number) => Buffer;
}

const nowNs = () => `${Date.now()}000000`;
const empties = (bytes: number) => Array(Math.floor(bytes / 3)).fill('{}').join(',');

/** The attacker's shapes: one entry, and hundreds of thousands of tiny values where the decoders do not look first. */
const shapes: Record<string, Shape> = {
  'Loki JSON push, one entry of structured metadata members "k":""': {
    path: '/loki/api/v1/push',
    body: (bytes) => {
      const members: string[] = [];
      for (let size = 100, i = 0; size < bytes; i++) {
        const member = `"${i.toString(36)}":""`;
        members.push(member);
        size += member.length + 1;
      }
      return Buffer.from(`{"streams":[{"stream":{"a":"b"},"values":[["${nowNs()}","x",{${members.join(',')}}]]}]}`);
    },
  },
  '/v1/logs:ingest, metadata {"a": [{}, {}, …]}': {
    path: '/v1/logs:ingest',
    body: (bytes) => Buffer.from(`{"entries":[{"timestamp":"${new Date().toISOString()}","level":"INFO","message":"x","service":"s","env":"e","metadata":{"a":[${empties(bytes - 300)}]}}]}`),
  },
  'legacy JSON push, an unknown field of [{}, {}, …]': {
    path: '/api/prom/push',
    body: (bytes) => Buffer.from(`{"streams":[{"labels":"{a=\\"b\\"}","entries":[{"ts":"${new Date().toISOString()}","line":"x"}],"x":[${empties(bytes - 300)}]}]}`),
  },
};

interface Answer {
  readonly status: number;
  readonly error: string | undefined;
}

async function post(service: HostileService, path: string, body: Buffer, gzip = false): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' };
  if (gzip) headers['content-encoding'] = 'gzip';
  const response = await fetch(`${service.url}${path}`, { method: 'POST', body: gzip ? gzipSync(body) : body, headers });
  const text = await response.text();
  return { status: response.status, error: text === '' ? undefined : (JSON.parse(text) as { error?: string }).error };
}

function checkBounded(t: Test, run: Measured<unknown>, maxRssGrowthBytes: number, what: string, judgeProbes = true): void {
  t.ok(run.alive, `${what}: the service is alive`);
  if (judgeProbes) t.equal(run.healthFailures, 0, `${what}: /healthz answered every probe within 1 s (${run.healthProbes}, the slowest ${run.healthMaxMs.toFixed(0)} ms)`);
  else t.comment(`${what}: /healthz probes ${run.healthProbes}, failed ${run.healthFailures}, the slowest ${run.healthMaxMs.toFixed(0)} ms`);
  t.ok(run.peakRssGrowthBytes < maxRssGrowthBytes, `${what}: peak RSS grew ${mib(run.peakRssGrowthBytes)}, under ${mib(maxRssGrowthBytes)}`);
  t.equal(run.walGrowthBytes, 0, `${what}: nothing is written`);
}

/** What refused bodies may add: a fixed allowance, and the bodies themselves twice over. */
const refusedBound = (sentBytes: number) => RSS_ALLOWANCE + RSS_PER_BODY_BYTE * sentBytes;

const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'], config: { limits: { max_body_bytes_in_flight: BUDGET } } });

t.test(`5 MB of tiny values, ${AT_ONCE} at once of each shape, and all at once: 413 payload_too_large before JSON.parse`, async (t) => {
  for (const [name, shape] of Object.entries(shapes)) {
    const body = shape.body(ATTACK_BYTES);
    t.ok(body.length + jsonParseCost(body) > BUDGET, `${name}: charged ${mib(body.length + jsonParseCost(body))} for ${mib(body.length)}`);
    const run = await service.measure(() => Promise.all(Array.from({ length: AT_ONCE }, () => post(service, shape.path, body))));
    t.same(
      run.result.map((answer) => [answer.status, answer.error]),
      Array(AT_ONCE).fill([413, 'payload_too_large']),
      `${name}: refused`,
    );
    checkBounded(t, run, refusedBound(AT_ONCE * body.length), name);
  }
  const all = Object.values(shapes).flatMap((shape) => [post(service, shape.path, shape.body(ATTACK_BYTES)), post(service, shape.path, shape.body(ATTACK_BYTES), true)]);
  const run = await service.measure(() => Promise.all(all));
  for (const answer of run.result) t.ok(answer.status === 413 || answer.status === 503, `all at once, plain and gzipped: refused (${answer.status} ${answer.error})`);
  checkBounded(t, run, refusedBound(Object.keys(shapes).length * 2 * ATTACK_BYTES), 'all at once');
});

t.test(`the largest bodies of tiny values the budget takes, ${AT_ONCE} at once: parsed one at a time, refused for what they hold`, async (t) => {
  for (const [name, shape] of Object.entries(shapes).slice(0, 2)) {
    // Sized to 90% of the budget by the charge of a small one: the parse of the next is refused 503 while one is held.
    const sample = shape.body(100_000);
    const perByte = (sample.length + jsonParseCost(sample)) / sample.length;
    const body = shape.body(Math.floor((0.9 * BUDGET) / perByte));
    const run = await service.measure(() => Promise.all(Array.from({ length: AT_ONCE }, () => post(service, shape.path, body))));
    for (const answer of run.result) t.ok(answer.status === 400 || answer.status === 503, `${name}, ${mib(body.length)}: ${answer.status} ${answer.error}`);
    t.ok(
      run.result.some((answer) => answer.status === 400),
      `${name}: parsed, and refused for its values`,
    );
    // What is parsed is at most the budget at a time; its garbage is collected at V8's pace.
    // Probes are not judged: parsing a budget's worth of JSON takes 0.1-0.6 s on an idle
    // machine, over 1 s on a saturated one (docs/reliability.md, resource bounds).
    checkBounded(t, run, PARSED_RSS_PER_BUDGET * BUDGET, name, false);
  }
});
