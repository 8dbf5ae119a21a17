/**
 * End to end: from the first POST to a Loki stand-in having every entry, fsync on. Runs on fresh
 * services: paced load at half the ingest target and at the target (delivery latency, whether
 * delivery keeps up), saturation (entries/s delivered), and a backlog built while Loki is down,
 * then drained (drain rate, memory). BENCH_BACKLOG_MB=1024 for the 1 GB drain.
 */
import autocannon from 'autocannon';
import { startLokiSink } from './loki-sink.js';
import { pacedLoad } from './paced-load.js';
import { BENCH_TOKEN, histogramQuantile, sampleBody, startService } from './service-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BACKLOG_MB = Number(process.env.BENCH_BACKLOG_MB ?? 256);

export default {
  name: 'end-to-end',
  async run() {
    const { body, entries } = sampleBody();
    const sink = await startLokiSink();
    const figures: Record<string, number | string> = {};
    const loki = { backoff_max_ms: 1000 };
    const request = (url: string) => ({
      url: `${url}/v1/logs:ingest`,
      method: 'POST',
      headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
      body,
    });
    try {
      // Paced runs at half the ingest target and at the target. The generator shares a process
      // with the sink, so ingest latency is taken from the service's own histogram.
      let svc: Awaited<ReturnType<typeof startService>>;
      for (const [label, rate] of [['25k', 250], ['50k', 500]] as const) {
        sink.entries = 0;
        svc = await startService({ lokiUrl: sink.url, loki });
        const paced = await pacedLoad({ url: svc.url, path: '/v1/logs:ingest', headers: request(svc.url).headers, body, ratePerSecond: rate, seconds: SECONDS, okStatus: 202 });
        const loadEnded = performance.now();
        const done = await sink.when(paced.ok * entries);
        const m = await svc.metrics();
        figures[`paced ${label} entries/s: accepted / offered`] = `${paced.ok * entries} / ${rate * SECONDS * entries}`;
        figures[`paced ${label}: ingest p99 ms (service)`] = 1000 * histogramQuantile(m, 'http_request_duration_seconds', 0.99, 'route="/v1/logs:ingest"');
        figures[`paced ${label}: delivery latency p50 s`] = histogramQuantile(m, 'logs_delivery_latency_seconds', 0.5);
        figures[`paced ${label}: delivery latency p99 s`] = histogramQuantile(m, 'logs_delivery_latency_seconds', 0.99);
        figures[`paced ${label}: all delivered, s after the load`] = (done - loadEnded) / 1000;
        figures[`paced ${label}: service peak RSS MB`] = svc.peakRssBytes() / 2 ** 20;
        await svc.stop();
      }

      sink.entries = 0;
      svc = await startService({ lokiUrl: sink.url, loki });
      const started = performance.now();
      const max = await autocannon({ ...request(svc.url), connections: 32, duration: SECONDS });
      const accepted = max['2xx'] * entries;
      const done = await sink.when(accepted);
      figures['max: entries/s accepted'] = accepted / max.duration;
      figures['max: entries/s delivered, first POST to last ack'] = accepted / ((done - started) / 1000);
      figures['max: MB/s of JSON delivered'] = (max['2xx'] * Buffer.byteLength(body)) / ((done - started) / 1000) / 1e6;
      figures['max: delivery finished after load, s'] = (done - started) / 1000 - max.duration;
      figures['max: service peak RSS MB'] = svc.peakRssBytes() / 2 ** 20;
      await svc.stop();

      sink.entries = 0;
      sink.down = true;
      svc = await startService({ lokiUrl: sink.url, loki });
      const backlogRequests = Math.ceil((BACKLOG_MB * 1e6) / Buffer.byteLength(body));
      const fill = await autocannon({ ...request(svc.url), connections: 32, amount: backlogRequests });
      const backlogEntries = fill['2xx'] * entries;
      const walMb = svc.walBytes() / 1e6;
      let peakDuringDrain = 0;
      const sampler = setInterval(() => (peakDuringDrain = Math.max(peakDuringDrain, svc.rssBytes())), 100);
      const drainStart = performance.now();
      sink.down = false;
      const drained = await sink.when(backlogEntries);
      clearInterval(sampler);
      figures['backlog: JSON MB ingested while Loki was down'] = (fill['2xx'] * Buffer.byteLength(body)) / 1e6;
      figures['backlog: WAL MB'] = walMb;
      figures['backlog: drain entries/s'] = backlogEntries / ((drained - drainStart) / 1000);
      figures['backlog: drain s'] = (drained - drainStart) / 1000;
      figures['backlog: service peak RSS while draining MB'] = peakDuringDrain / 2 ** 20;
      await svc.stop();
      return figures;
    } finally {
      await sink.close();
    }
  },
};
