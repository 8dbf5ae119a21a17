import t from 'tap';
import { faultSchedule, outagesOf } from './fault-schedule.js';
import { runSoak, summarize } from './soak.js';

t.test('the fault schedule keeps every fault at any length: a 60 s outage per 5 minutes, one outage in a short run', async (t) => {
  const long = faultSchedule(30 * 60_000);
  t.same(
    outagesOf(long).map((o) => o.endMs - o.startMs),
    [60_000, 60_000, 60_000, 60_000, 60_000, 60_000],
  );
  const short = faultSchedule(15_000);
  t.equal(outagesOf(short).length, 1);
  t.same([...new Set(short.map((p) => p.kind))].sort(), ['accept', 'outage-503', 'outage-reset', 'rate-limited', 'refuse-400', 'slow']);
  for (const schedule of [long, short]) {
    t.equal(schedule[0]!.startMs, 0);
    t.ok(schedule.every((p, i) => i === 0 || p.startMs === schedule[i - 1]!.endMs), 'phases follow each other without gaps');
  }
  t.equal(long.at(-1)!.endMs, 30 * 60_000);
  t.equal(short.at(-1)!.endMs, 15_000);
});

t.test('a short soak through an outage, a 429 storm, slow answers and 400s loses nothing and the WAL comes back near zero', async (t) => {
  const r = await runSoak({
    durationMs: 15_000,
    entriesPerSecond: 1500,
    keys: 3,
    service: 'source',
    sampleIntervalMs: 500,
    segmentMaxBytes: 64 * 1024,
    backoffMaxMs: 1000,
  });
  const summary = summarize(r);
  t.ok(r.ids.acknowledged > 0, `entries were acknowledged (${summary})`);
  t.equal(r.ids.lost, 0, `every acknowledged entry reached Loki or the dead-letter store; lost: ${JSON.stringify(r.ids.lostSample)}`);
  t.equal(r.loki.misrouted, 0, "every entry reached its key's tenant");
  t.equal(r.loki.malformed, 0, `every push decoded: ${JSON.stringify(r.loki.malformedSamples)}`);
  t.ok(r.loki.refused > 0 && r.ids.refusedNotDeadLettered === 0, `the entries Loki refused (${r.loki.refused}) are in the dead-letter store`);
  t.ok(r.ids.deadLettered > 0, 'some acknowledged entries are dead letters');
  t.ok((r.loki.answers['503'] ?? 0) + (r.loki.answers.reset ?? 0) > 0 && (r.loki.answers['429'] ?? 0) > 0, `faults were answered: ${JSON.stringify(r.loki.answers)}`);
  t.same(r.load.failures, {}, `no ingest request failed: ${JSON.stringify(r.load.failureSamples)}`);

  t.equal(r.outages.length, 1);
  const outage = r.outages[0]!;
  t.ok(outage.peakWalBytes > r.options.keys * r.options.nearZeroBytesPerKey, `the outage filled the WAL (${outage.peakWalBytes} bytes)`);
  t.not(outage.backToNearZeroS, null, 'the WAL came back near zero after the outage');
  t.ok(r.verdict.walBackToNearZero, `and after the flush: ${JSON.stringify(r.finalWalBytes)}`);

  t.ok(r.samples.length > 0 && r.samples.every((s) => s.rssBytes > 0), 'the service process was sampled');
  t.ok(r.samples.some((s) => s.eventLoopP99Ms > 0), 'the event-loop delay was read from /metrics');
  t.equal(r.flush.status, 200, 'the final flush delivered everything');
  t.equal(r.exit.code, 0, 'SIGTERM stopped the service cleanly');
  t.ok(r.verdict.pass);
});
