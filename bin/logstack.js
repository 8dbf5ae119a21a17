#!/usr/bin/env -S node --max-semi-space-size=4
// The main thread's young generation is capped at 4 MB a semi-space (V8 grows it to 16): under
// ingest load the larger one kept 30–60 MB more resident, for ~10% more throughput at
// saturation (docs/adr/ADR-004-heap-settings.md).
// V8 takes it only at start, so it is here, where `npm start`, the container and an installed
// `logstack` all start; `node --max-semi-space-size=N bin/logstack.js` chooses another size.
// The compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
