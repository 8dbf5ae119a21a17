/**
 * Masking on the shared sample `ingest-100.json` with the default policy: whole entries (keys
 * and value patterns), the value patterns alone on the sample's strings, and the worst case of
 * the card pattern (a 100 kB run of digit groups, every span Luhn-checked).
 */
import { existsSync, readFileSync } from 'node:fs';
import { compileMaskingPolicy } from '../src/masking/policy.js';
import { maskEntry } from '../src/pipeline/mask-entry.js';
import type { IngestEntry } from '../src/pipeline/types.js';
import { perSecond, testConfigForBench } from './bench-config.js';
import type { Scenario } from './run.js';

const SAMPLE = new URL('../../shared/samples/ingest-100.json', import.meta.url);

function stringsOf(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'object' && value !== null) for (const child of Object.values(value)) stringsOf(child, out);
  return out;
}

export default {
  name: 'masking',
  async run(): Promise<Record<string, number | string>> {
    if (!existsSync(SAMPLE)) return { skipped: 'shared/samples/ingest-100.json is not beside the repository' };
    const entries = (JSON.parse(readFileSync(SAMPLE, 'utf8')) as { entries: IngestEntry[] }).entries;
    const { masking } = testConfigForBench();
    const policy = compileMaskingPolicy(masking);
    const maskText = (text: string) => policy.maskText(text);
    const strings = stringsOf(entries, []);

    const maskRate = perSecond(entries.length, () => {
      for (const entry of entries) maskEntry(entry, policy);
    });
    const patternRate = perSecond(strings.length, () => {
      for (const text of strings) maskText(text);
    });
    const hostile = '1 '.repeat(50_000);
    const hostileRate = perSecond(1, () => maskText(hostile));
    return {
      mask_entries_per_s: maskRate,
      mask_us_per_entry: Number((1e6 / maskRate).toFixed(2)),
      value_patterns_strings_per_s: patternRate,
      value_patterns_ns_per_string: Math.round(1e9 / patternRate),
      hostile_100kB_digit_groups_ms: Number((1e3 / hostileRate).toFixed(2)),
    };
  },
} satisfies Scenario;
