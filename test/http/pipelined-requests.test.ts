import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { limitPipelining } from '../../src/http/pipelined-requests.js';

interface Served {
  readonly port: number;
  /** Most requests handled at once. */
  readonly maxConcurrent: () => number;
  readonly overruns: () => number;
}

/** A real server whose handler answers each request after 20 ms with what it read of it. */
async function serve(t: Test, maxPipelined: number): Promise<Served> {
  let concurrent = 0;
  let maxConcurrent = 0;
  let overruns = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () =>
      setTimeout(() => {
        concurrent--;
        response.end(`${request.method} ${request.url} ${bytes}`);
      }, 20),
    );
  });
  limitPipelining(server, maxPipelined, { overrun: () => overruns++ });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, maxConcurrent: () => maxConcurrent, overruns: () => overruns };
}

/** Writes `parts` one after another (`pauseMs` apart), then reads until the server closes or `answers` bodies came. */
async function exchange(port: number, parts: readonly string[], answers: number, pauseMs = 0): Promise<{ bodies: string[]; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  const bodies = () => [...text.matchAll(/\r\n\r\n([A-Z]+ \S+ \d+)/g)].map((m) => m[1]!);
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (bodies().length >= answers) resolve();
    });
    socket.once('close', () => {
      closed = true;
      resolve();
    });
  });
  socket.on('error', () => {});
  for (const part of parts) {
    socket.write(part);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  await done;
  socket.destroy();
  return { bodies: bodies(), closed };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

t.test('pipelined requests are handled one at a time, answered in order, up to the bound', async (t) => {
  const served = await serve(t, 4);
  const { bodies } = await exchange(served.port, [get('/a') + get('/b') + get('/c') + get('/d')], 4);
  t.same(bodies, ['GET /a 0', 'GET /b 0', 'GET /c 0', 'GET /d 0']);
  t.equal(served.maxConcurrent(), 1);
  t.equal(served.overruns(), 0);
});

t.test('one over the bound: the connection is closed and counted once, whatever follows in the same read', async (t) => {
  const served = await serve(t, 4);
  const { bodies, closed } = await exchange(served.port, [get('/x').repeat(5 + 100)], 105);
  t.ok(closed);
  t.same(bodies, []);
  t.equal(served.overruns(), 1);
});

t.test('a pipelined request with a body that arrives while it waits gets its whole body', async (t) => {
  const served = await serve(t, 4);
  const body = 'x'.repeat(200_000);
  const post = `POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
  const { bodies, closed } = await exchange(served.port, [get('/a') + post + body.slice(0, 1000), body.slice(1000), get('/b')], 3, 50);
  t.same(bodies, ['GET /a 0', `POST /p ${body.length}`, 'GET /b 0']);
  t.notOk(closed);
});

t.test('requests sent after the answers were read are never over the bound', async (t) => {
  const served = await serve(t, 2);
  const socket = connect(served.port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  for (let i = 0; i < 10; i++) {
    socket.write(get(`/${i}`) + get(`/${i}b`));
    while ((text.match(/HTTP\/1\.1 200/g) ?? []).length < 2 * (i + 1)) await sleep(5);
  }
  socket.destroy();
  t.equal(served.overruns(), 0);
  t.equal(served.maxConcurrent(), 1);
});
