/**
 * A TCP relay on 127.0.0.1 in front of a server (the Loki stand-in) that can stop listening, as
 * when Loki's process goes away: new connections are refused (ECONNREFUSED) and the connections
 * a client keeps in its pool are closed. A request already sent still gets its answer before its
 * connection closes, so every answer the server gave reaches the client (tests compare the
 * server's answers with what the client counted). `open()` listens again on the same port.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpGate {
  /** Listens on a free port; returns `http://127.0.0.1:<port>`. */
  start(): Promise<string>;
  readonly url: string;
  /** Stops listening; closes idle connections now, the others once their answer is relayed. */
  refuse(): void;
  /** Listens again on the same port. */
  open(): Promise<void>;
  /** Stops listening and cuts every connection. */
  close(): void;
}

interface Relay {
  readonly client: Socket;
  readonly upstream: Socket;
  /** The client sent bytes the server has not answered yet. */
  awaiting: boolean;
  /** Close once the answer is relayed. */
  closing: boolean;
}

class RelayGate implements TcpGate {
  readonly #target: URL;
  readonly #relays = new Set<Relay>();
  #server: Server | null = null;
  #port = 0;

  constructor(target: string) {
    this.#target = new URL(target);
  }

  get url(): string {
    if (this.#port === 0) throw new Error('tcp gate: start() first');
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<string> {
    await this.#listen(0);
    return this.url;
  }

  async open(): Promise<void> {
    if (this.#server === null) await this.#listen(this.#port);
  }

  refuse(): void {
    // close() stops accepting at once; its 'close' event waits for connections still relaying.
    this.#server?.close();
    this.#server = null;
    for (const relay of this.#relays) {
      if (relay.awaiting) relay.closing = true;
      else this.#end(relay);
    }
  }

  close(): void {
    this.refuse();
    for (const relay of this.#relays) {
      relay.client.destroy();
      relay.upstream.destroy();
    }
  }

  async #listen(port: number): Promise<void> {
    const server = createServer((client) => this.#relay(client));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  #relay(client: Socket): void {
    const relay: Relay = { client, upstream: connect(Number(this.#target.port), this.#target.hostname), awaiting: false, closing: false };
    const { upstream } = relay;
    this.#relays.add(relay);
    client.on('data', (chunk: Buffer) => {
      relay.awaiting = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      relay.awaiting = false;
      client.write(chunk);
      if (relay.closing) this.#end(relay);
    });
    // The server hanging up (a reset, a keep-alive timeout) reaches the client as a hang-up.
    upstream.on('close', () => client.end());
    client.on('close', () => {
      upstream.destroy();
      this.#relays.delete(relay);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  }

  /** Ends the client's side after what was written to it is flushed. */
  #end(relay: Relay): void {
    relay.client.end();
    relay.upstream.destroy();
  }
}

/** A gate in front of `target` (`http://host:port`). */
export function createTcpGate(target: string): TcpGate {
  return new RelayGate(target);
}
