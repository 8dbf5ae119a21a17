/**
 * A minimal Loki for benchmarks: decodes each push just enough to count its entries (snappy,
 * then the protobuf framing) and answers 204, or 503 while "down". Correctness of what arrives
 * is the tests' job (test/support/loki-stand-in.ts); this one must cost little CPU.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompress } from 'snappy';
import { ProtobufReader } from '../src/loki/protobuf-wire.js';

export interface LokiSink {
  readonly url: string;
  entries: number;
  pushes: number;
  down: boolean;
  /** ms timestamps of the moment `entries` first reached each threshold asked for by `when`. */
  when(entries: number): Promise<number>;
  close(): Promise<void>;
}

function countEntries(body: Buffer): number {
  let n = 0;
  const req = new ProtobufReader(body);
  while (!req.done) {
    const tag = req.varint();
    if (tag >>> 3 !== 1) {
      req.skip(tag & 7);
      continue;
    }
    const [s, e] = req.lengthDelimited();
    const stream = new ProtobufReader(body, s, e);
    while (!stream.done) {
      const t = stream.varint();
      if (t >>> 3 === 2) n++;
      stream.skip(t & 7);
    }
  }
  return n;
}

export async function startLokiSink(): Promise<LokiSink> {
  const waiters: Array<{ entries: number; resolve: (at: number) => void }> = [];
  const sink = {
    url: '',
    entries: 0,
    pushes: 0,
    down: false,
    when(entries: number) {
      if (sink.entries >= entries) return Promise.resolve(performance.now());
      return new Promise<number>((resolve) => waiters.push({ entries, resolve }));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (req.url === '/ready') return res.writeHead(sink.down ? 503 : 200).end();
      if (sink.down) return res.writeHead(503).end('Ingester not ready');
      const n = countEntries(Buffer.from(await uncompress(Buffer.concat(chunks))));
      sink.entries += n;
      sink.pushes++;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (sink.entries >= waiters[i]!.entries) waiters.splice(i, 1)[0]!.resolve(performance.now());
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sink;
}
