/**
 * Runs the benchmark scenarios (bench/*.bench.ts) and prints the machine and the figures.
 *   npm run bench                 all scenarios
 *   npm run bench -- ingest       the scenarios whose name contains "ingest"
 * Figures are also written to bench/results/latest.json (not committed).
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Scenario {
  readonly name: string;
  run(): Promise<Record<string, number | string>>;
}

const dir = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);

function machine(): Record<string, string> {
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

const results: Record<string, Record<string, number | string>> = {};
console.log('machine');
for (const [k, v] of Object.entries(machine())) console.log(`  ${k.padEnd(10)} ${v}`);

for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
  const scenario = (await import(new URL(file, import.meta.url).href)).default as Scenario;
  if (filters.length > 0 && !filters.some((f) => scenario.name.includes(f))) continue;
  console.log(`\n${scenario.name}`);
  const figures = await scenario.run();
  results[scenario.name] = figures;
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(44)} ${typeof v === 'number' ? Number(v.toPrecision(4)) : v}`);
}

mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/latest.json', import.meta.url), `${JSON.stringify({ machine: machine(), results }, null, 2)}\n`);
