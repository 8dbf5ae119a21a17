/**
 * At most `server.max_connections` connections at once. A plain cap (node's `maxConnections`)
 * would let one client that opens that many slow connections lock everyone out, the liveness
 * probe included, and get the pod restarted. So a connection that arrives at the cap takes the
 * place of the least useful one instead: the longest idle (no request, or headers still
 * trickling in), else the one whose body has been arriving the longest. A connection whose
 * request is complete and being answered is never taken; when every one is, the newcomer is
 * closed at once.
 *
 * Connections are counted as they arrive, TCP sockets before any TLS handshake (a client that
 * only connects takes a place too); a request's socket is, over HTTPS, the TLS socket on top of
 * one. Both are the same TCP connection, and so the same pair of endpoints: that is the key.
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
  readonly key: string;
  sinceMs: number;
  request: IncomingMessage | null = null;

  constructor(socket: Socket, key: string, nowMs: number) {
    this.socket = socket;
    this.key = key;
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

/** The TCP connection a socket, or the TLS socket over it, is: its two endpoints. Null once closed. */
function endpointsOf(socket: Socket): string | null {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return null;
  return `${remoteAddress}|${remotePort}|${localAddress}|${localPort}`;
}

/** Applies the cap to `server`'s connections (HTTP or HTTPS). */
export function limitConnections(server: Server, maxConnections: number, observer: ConnectionLimitObserver, clock: () => number = Date.now): ConnectionLimit {
  const connections = new Map<string, Connection>();

  server.on('connection', (socket: Socket) => {
    const key = endpointsOf(socket);
    // Reset before it was seen: nothing to count.
    if (key === null) return;
    if (connections.size >= maxConnections) {
      const evictee = pickEvictee(connections.values());
      if (evictee === null) {
        observer.refused();
        socket.destroy();
        return;
      }
      connections.delete(evictee.key);
      evictee.socket.destroy();
      observer.evicted();
    }
    const connection = new Connection(socket, key, clock());
    connections.set(key, connection);
    socket.once('close', () => {
      if (connections.get(key) === connection) connections.delete(key);
    });
  });

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const key = endpointsOf(request.socket);
    const connection = key === null ? undefined : connections.get(key);
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
