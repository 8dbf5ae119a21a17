/**
 * `npm run soak -- [--minutes 30] [--rate 25000] [--keys 3] [--out soak.json]`: the long soak,
 * outside `npm test`, against the built service (`npm run soak` builds first). The default rate
 * is half the ingest target of 50,000 entries/s. Prints a row per minute, the verdict and a
 * one-line summary; `--out` gets the whole result with every sample. Exits 1 when an
 * acknowledged entry was lost, an ingest request failed, a key's WAL did not come back near
 * zero after an outage, or the service did not flush and stop cleanly.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runSoak, summarize, verdictLines } from './soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '25000' },
    keys: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const keys = Number(values.keys);
if (!(minutes > 0) || !(rate > 0) || !Number.isInteger(keys) || keys < 1) {
  console.error(`--minutes and --rate must be positive numbers and --keys a positive integer; got ${values.minutes}, ${values.rate}, ${values.keys}`);
  process.exit(2);
}

console.log(`soak: ${minutes} min at ${rate} entries/s over ${keys} keys; node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
const result = await runSoak({ durationMs: minutes * 60_000, entriesPerSecond: rate, keys, service: 'built', log: (line) => console.log(line) });
if (values.out !== undefined) await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
for (const line of verdictLines(result)) console.log(line);
console.log(summarize(result));
process.exitCode = result.verdict.pass ? 0 : 1;
