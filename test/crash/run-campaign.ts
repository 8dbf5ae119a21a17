/**
 * `npm run test:crash -- [--rounds N] [--dead-letters]`: the long crash campaign, outside
 * `npm test`. Prints a line per round and the report; exits 1 when anything acknowledged was
 * lost or misrouted, a start failed, the process died unkilled, a kill left a corrupt record or
 * cursor, or the final flush did not complete.
 */
import { parseArgs } from 'node:util';
import { runCrashCampaign, summarize } from './crash-campaign.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '50' },
    'dead-letters': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer, got ${values.rounds}`);
  process.exit(2);
}

const result = await runCrashCampaign({ rounds, deadLetterMode: values['dead-letters'], log: (line) => console.log(line) });
console.log(JSON.stringify(result, null, 2));
console.log(summarize(result));
const failed =
  result.lost > 0 ||
  result.misrouted > 0 ||
  result.roundsStarted < rounds ||
  result.unexpectedExits.length > 0 ||
  result.walWarnings.corruptRecords > 0 ||
  result.walWarnings.cursorResets > 0 ||
  !result.finalFlushComplete;
process.exitCode = failed ? 1 : 0;
