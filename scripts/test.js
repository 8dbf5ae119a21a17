/**
 * `npm test`'s tap: tap with its arguments, every process of the suite importing
 * ./no-file-records.js first. The hook goes in NODE_OPTIONS as a file URL, which has no spaces
 * to split the variable on.
 *
 * A signal sent to this process alone (a timeout, an editor's stop button, a cancelled CI step)
 * is passed on to tap, which stops its tests; this process ends once tap has, as tap did.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

const hook = new URL('./no-file-records.js', import.meta.url).href;
const env = { ...process.env, NODE_OPTIONS: `--import=${hook} ${process.env.NODE_OPTIONS ?? ''}`.trim() };
const tap = spawn(fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url)), process.argv.slice(2), { stdio: 'inherit', env });
const passOn = (signal) => tap.kill(signal);
for (const signal of SIGNALS) process.on(signal, passOn);
tap.on('error', (err) => {
  console.error(`tap could not be started: ${err.message}`);
  process.exitCode = 1;
});
tap.on('exit', (code, signal) => {
  for (const s of SIGNALS) process.off(s, passOn);
  if (signal !== null) process.kill(process.pid, signal);
  else process.exitCode = code ?? 1;
});
