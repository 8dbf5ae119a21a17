/**
 * One request of a connection at a time, at most `server.max_pipelined_requests` outstanding.
 *
 * Node's HTTP server parses every request a client pipelines (writes before reading the answers
 * to the earlier ones) and hands each to the application at once, while the earlier ones are
 * still being answered: 1,500 `GET /metrics` in one 52 kB write were 1,500 expositions rendered
 * together, and the process ran out of heap. Node stops reading a connection only when answers
 * pile up unwritten, not while handlers run.
 *
 * So, as nginx and Envoy serve HTTP/1.1, a connection's requests are processed one after the
 * other: a request that arrives while another is being answered waits, and the connection is
 * not read while one waits. Node parses what it has read already (one read, up to 64 KiB)
 * before a pause takes effect: a client whose requests outrun the bound within that is
 * disconnected at once, which frees what it sent (RFC 9112 §9.3.2: a client retries the
 * requests a closed connection left unanswered). Loki clients, OTLP exporters and browsers do
 * not pipeline.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

export interface PipelineObserver {
  /** A connection closed for sending more than the bound ahead of its answers. */
  overrun(): void;
}

class Connection {
  readonly socket: Socket;
  answering = false;
  readonly waiting: Array<readonly [IncomingMessage, ServerResponse]> = [];
  /** The socket is paused by this connection's queue (node may resume it for its own reasons). */
  paused = false;
  closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
  }
}

/**
 * Applies the bound to `server`: the request listeners registered so far (fastify's, the
 * connection limit's) see a connection's requests one at a time. Call it once every request
 * listener is registered.
 */
export function limitPipelining(server: Server, maxPipelined: number, observer: PipelineObserver): void {
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  const connections = new WeakMap<Socket, Connection>();

  const dispatch = (connection: Connection, request: IncomingMessage, response: ServerResponse): void => {
    connection.answering = true;
    // 'close' comes once the answer is written, or when the connection is gone.
    response.once('close', () => {
      connection.answering = false;
      next(connection);
    });
    for (const listener of listeners) listener.call(server, request, response);
  };

  const next = (connection: Connection): void => {
    if (connection.closed || connection.answering) return;
    // Unwritten answers to a client that does not read: the next one waits for the drain.
    if (connection.socket.writableNeedDrain) return;
    const head = connection.waiting.shift();
    // The last request read may still have its body to come: once it is the one answered, the
    // connection is read again (the requests before it were whole when it arrived).
    if (connection.waiting.length === 0 && connection.paused) {
      connection.paused = false;
      connection.socket.resume();
    }
    if (head !== undefined) dispatch(connection, head[0], head[1]);
  };

  const connectionOf = (socket: Socket): Connection => {
    let connection = connections.get(socket);
    if (connection === undefined) {
      const created = new Connection(socket);
      connection = created;
      connections.set(socket, created);
      // Reading a request's body resumes the socket: it stays paused while a request waits.
      socket.on('resume', () => {
        if (created.paused) socket.pause();
      });
      socket.on('drain', () => next(created));
      socket.once('close', () => (created.closed = true));
    }
    return connection;
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = connectionOf(request.socket);
    if (connection.closed) return;
    if (!connection.answering && connection.waiting.length === 0 && !connection.socket.writableNeedDrain) {
      dispatch(connection, request, response);
      return;
    }
    // The requests before this one on the connection are whole (their bodies came before it),
    // so pausing stalls none of them; this one's body, if any, flows once it is its turn.
    const outstanding = (connection.answering ? 1 : 0) + connection.waiting.length + 1;
    if (outstanding > maxPipelined) {
      connection.closed = true;
      observer.overrun();
      connection.socket.destroy();
      return;
    }
    connection.waiting.push([request, response]);
    if (!connection.paused) {
      connection.paused = true;
      connection.socket.pause();
    }
  });
}
