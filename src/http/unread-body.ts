/**
 * An answer given before the request's body has all arrived (a refusal, a 404, a body cut off,
 * a probe sent a body) closes the connection. Kept open, node would read the rest of the body,
 * however slowly it trickles in, to reach the next request of the keep-alive connection: a
 * refused or unrouted request would hold a connection for as long as its client liked.
 *
 * Closed at once, though, a connection with unread bytes is reset, and a client still sending
 * its body may get the reset before it reads the answer: a Loki client with a wrong token would
 * log "connection reset" instead of 401. So, like a web server's lingering close, the
 * connection stops reading, sends the answer and its end, and is destroyed LINGER_MS later (or
 * when the client closes first). The body is not read meanwhile: what the client still sends
 * waits in the kernel's buffer until the reset.
 */
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';

/** How long a client has to read an answer given before its body was read (ms). */
export const LINGER_MS = 2000;

/**
 * Node ends a connection whose answer said `Connection: close` with `socket.destroySoon()`
 * once the answer is written; this one lingers instead.
 */
function lingerAtClose(socket: Socket): void {
  socket.destroySoon = function lingeringClose(this: Socket) {
    // Pausing the socket makes node's HTTP server stop reading from it.
    this.pause();
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    this.once('close', () => clearTimeout(timer));
  };
}

export const unreadBodyPlugin = fp(
  async (app) => {
    app.addHook('onSend', async (request, reply) => {
      if (request.raw.complete) return;
      reply.header('connection', 'close');
      lingerAtClose(request.raw.socket);
    });
  },
  { name: 'logstack-unread-body', fastify: '5.x' },
);
