/**
 * At most `server.max_connections` connections at once. A plain cap (node's `maxConnections`)
 * would let one client that opens that many slow connections lock everyone out, the liveness
 * probe included, and get the pod restarted. So a connection that arrives at the cap takes the
 * place of the least useful one instead: the longest idle (no request, or headers still
 * trickling in), else the one whose body has been arriving the longest. A connection whose
 * request is complete and being answered is never taken; when every one is, the newcomer is
 * closed at once.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What a connection is doing, as far as eviction cares. */
export type ConnectionState = 'idle' | 'receiving' | 'answering';

export interface ConnectionView {
  readonly state: ConnectionState;
  /** Since when it is in that state (ms). */
  readonly sinceMs: number;
}

/** The connection to close for a newcomer at the cap, or null when every one is answering. */
export function pickEvictee<T extends ConnectionView>(connections: Iterable<T>): T | null {
  let idle: T | null = null;
  let receiving: T | null = null;
  for (const c of connections) {
    if (c.state === 'idle' && (idle === null || c.sinceMs < idle.sinceMs)) idle = c;
    else if (c.state === 'receiving' && (receiving === null || c.sinceMs < receiving.sinceMs)) receiving = c;
  }
  return idle ?? receiving;
}

export interface ConnectionLimitObserver {
  /** A connection closed to make room for a new one. */
  evicted(): void;
  /** A new connection closed at once: every connection was answering a request. */
  refused(): void;
}

class Connection implements ConnectionView {
  readonly socket: Socket;
  sinceMs: number;
  request: IncomingMessage | null = null;

  constructor(socket: Socket, nowMs: number) {
    this.socket = socket;
    this.sinceMs = nowMs;
  }

  get state(): ConnectionState {
    if (this.request === null) return 'idle';
    return this.request.complete ? 'answering' : 'receiving';
  }
}

export interface ConnectionLimit {
  /** Connections open now. */
  readonly open: number;
}

/** Applies the cap to `server`'s connections. */
export function limitConnections(server: Server, maxConnections: number, observer: ConnectionLimitObserver, clock: () => number = Date.now): ConnectionLimit {
  const connections = new Map<Socket, Connection>();

  server.on('connection', (socket: Socket) => {
    if (connections.size >= maxConnections) {
      const evictee = pickEvictee(connections.values());
      if (evictee === null) {
        observer.refused();
        socket.destroy();
        return;
      }
      connections.delete(evictee.socket);
      evictee.socket.destroy();
      observer.evicted();
    }
    connections.set(socket, new Connection(socket, clock()));
    socket.once('close', () => connections.delete(socket));
  });

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = connections.get(request.socket);
    if (connection === undefined) return;
    connection.request = request;
    connection.sinceMs = clock();
    response.once('finish', () => {
      if (connection.request !== request) return;
      connection.request = null;
      connection.sinceMs = clock();
    });
  });

  return {
    get open() {
      return connections.size;
    },
  };
}
