/**
 * An open-loop load generator: requests leave at evenly spaced times whatever the answers do,
 * and each latency is measured from the request's scheduled time, so a stall shows in the
 * figures instead of slowing the generator down (no coordinated omission). autocannon's
 * `overallRate` sends each second's budget in a burst, which measures the burst, not the rate.
 */
import { Pool } from 'undici';

export interface PacedResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export async function pacedLoad(opts: {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  ratePerSecond: number;
  seconds: number;
  okStatus: number;
}): Promise<PacedResult> {
  const pool = new Pool(opts.url, { connections: 256, pipelining: 1 });
  const total = Math.round(opts.ratePerSecond * opts.seconds);
  const intervalMs = 1000 / opts.ratePerSecond;
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const inFlight: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; i < total; ) {
    const now = performance.now();
    while (i < total && start + i * intervalMs <= now) {
      const scheduled = start + i * intervalMs;
      inFlight.push(
        pool.request({ method: 'POST', path: opts.path, headers: opts.headers, body: opts.body }).then(
          async (res) => {
            await res.body.dump();
            latencies.push(performance.now() - scheduled);
            if (res.statusCode === opts.okStatus) ok++;
            else failed++;
          },
          () => void failed++,
        ),
      );
      i++;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, start + i * intervalMs - performance.now())));
  }
  await Promise.all(inFlight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { sent: total, ok, failed, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies.at(-1) ?? NaN };
}
