import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { pickEvictee, type ConnectionView } from '../../src/http/connection-limit.js';
import { APP_TOKEN, batch, send, startServer } from '../support/http-server.js';
import { createTestCa, issueServerCertificate } from '../support/test-pki.js';

const view = (state: ConnectionView['state'], sinceMs: number) => ({ state, sinceMs });

t.test('the longest idle connection makes room first, then the longest receiving; one being answered never', async (t) => {
  const idleOld = view('idle', 10);
  const receivingOlder = view('receiving', 5);
  t.equal(pickEvictee([view('answering', 1), view('idle', 20), idleOld, receivingOlder]), idleOld);
  t.equal(pickEvictee([view('answering', 1), receivingOlder, view('receiving', 7)]), receivingOlder);
  t.equal(pickEvictee([view('answering', 1), view('answering', 2)]), null);
  t.equal(pickEvictee([]), null);
});

t.test('at max_connections a new connection evicts an idle one; the cap holds and it is counted', async (t) => {
  const server = await startServer(t, { config: { server: { max_connections: 4 } } });
  const { port } = new URL(server.url);
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const closedByServer: number[] = [];
  for (let i = 0; i < 6; i++) {
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    socket.once('close', () => closedByServer.push(i));
    await once(socket, 'connect');
    sockets.push(socket);
    await sleep(20);
  }
  while (closedByServer.length < 2) await sleep(10);
  t.same(closedByServer.sort(), [0, 1], 'the two oldest idle connections were closed');
  // The request itself is a fifth connection: it evicts another idle one and is answered.
  t.equal((await send(server, '/healthz')).status, 200);
  const metrics = await server.metrics.registry.metrics();
  t.match(metrics, /^http_connections_closed_total\{reason="evicted"\} 3$/m);
  t.match(metrics, /^http_connections_open [1-4]$/m);
});

const ca = createTestCa();
const serverCert = issueServerCertificate(ca);

for (const scheme of ['http', 'https'] as const) {
  t.test(`${scheme}: an upload under way keeps its connection while clients with no token open more than max_connections TCP connections`, async (t) => {
    const server = await startServer(t, {
      config: { server: { max_connections: 4 } },
      ...(scheme === 'https' ? { deps: { https: { cert: serverCert.cert, key: serverCert.key } } } : {}),
    });
    const port = Number(new URL(server.url).port);
    const body = batch(20);
    const half = Math.floor(body.length / 2);
    const options = {
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/logs:ingest',
      agent: false,
      headers: { authorization: `Bearer ${APP_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    } as const;
    const upload = scheme === 'https' ? httpsRequest({ ...options, ca: ca.cert, servername: 'localhost' }) : httpRequest(options);
    const answer = new Promise<number | string>((resolve) => {
      upload.on('response', (res: IncomingMessage) => {
        res.resume();
        resolve(res.statusCode!);
      });
      upload.on('error', (err) => resolve(err.message));
    });
    upload.write(body.slice(0, half));
    // The request has arrived, its body not all: the connection is receiving.
    while (!/^http_requests_in_flight 1$/m.test(await server.metrics.registry.metrics())) await sleep(10);

    const sockets: Socket[] = [];
    t.teardown(() => sockets.forEach((s) => s.destroy()));
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      sockets.push(socket);
    }
    upload.end(body.slice(half));
    t.equal(await answer, 202, 'the upload is answered');
    t.match(await server.metrics.registry.metrics(), /^http_connections_closed_total\{reason="evicted"\} 7$/m, 'the idle ones made room for each other');
  });
}
