import t, { type Test } from 'tap';
import { runCrashCampaign, summarize, type CrashCampaignResult } from './crash-campaign.js';

function assertNothingLost(t: Test, r: CrashCampaignResult): void {
  const summary = summarize(r);
  t.same(r.startFailures, [], `the service started after every kill (${summary})`);
  t.equal(r.roundsStarted, r.rounds, 'every round started');
  t.same(r.unexpectedExits, [], 'the process only ever died of the SIGKILL');
  t.ok(r.acknowledged > 0, `entries were acknowledged (${r.acknowledged})`);
  t.equal(r.lost, 0, `no acknowledged entry was lost; ${r.duplicates} duplicates were re-sent; lost: ${JSON.stringify(r.lostSample)}`);
  t.equal(r.misrouted, 0, "every entry reached Loki under its key's tenant");
  t.equal(r.walWarnings.corruptRecords, 0, 'a kill never leaves a record failing its CRC');
  t.equal(r.walWarnings.cursorResets, 0, 'a kill never leaves an unreadable cursor');
  t.ok(r.finalFlushComplete, 'the final start delivered everything');
  t.equal(r.finalExitCode, 0, 'the final start stopped cleanly on SIGTERM');
}

t.test('SIGKILL at random moments under load and Loki faults loses no acknowledged entry (4 rounds)', async (t) => {
  const r = await runCrashCampaign({ rounds: 4, killWindowMs: { min: 200, max: 900 } });
  assertNothingLost(t, r);
  t.equal(r.kills, 4);
  t.ok(r.faultsTotal > 0, `Loki faults were injected (${JSON.stringify(r.faults)})`);
  t.equal(r.faults['400'] ?? 0, 0, 'no entry was refused for good, so none is a dead letter');
});

t.test('entries Loki refuses with 400 between kills are in the dead-letter store, none lost (2 rounds)', async (t) => {
  const r = await runCrashCampaign({ rounds: 2, deadLetterMode: true, killWindowMs: { min: 400, max: 900 } });
  assertNothingLost(t, r);
  t.ok(r.deadLettered > 0, `acknowledged entries of the refused tenant are dead letters (${r.deadLettered})`);
});
