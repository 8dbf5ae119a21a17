/**
 * `npm test`'s tap: tap with its arguments, every process of the suite importing
 * ./no-file-records.js first. The hook goes in NODE_OPTIONS as a file URL, which has no spaces
 * to split the variable on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const hook = new URL('./no-file-records.js', import.meta.url).href;
const env = { ...process.env, NODE_OPTIONS: `--import=${hook} ${process.env.NODE_OPTIONS ?? ''}`.trim() };
const tap = spawn(fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url)), process.argv.slice(2), { stdio: 'inherit', env });
tap.on('exit', (code, signal) => {
  if (signal !== null) process.kill(process.pid, signal);
  else process.exitCode = code ?? 1;
});
