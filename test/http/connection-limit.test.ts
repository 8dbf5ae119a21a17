import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { pickEvictee, type ConnectionView } from '../../src/http/connection-limit.js';
import { send, startServer } from '../support/http-server.js';

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
