/**
 * The client address as LogStack's own log lines show it. With `server.trust_proxy` it comes
 * from X-Forwarded-For, which the client writes: anything that is not an IP address (a JWT, a
 * password, 8 kB of text) is logged as `invalid`, never as sent.
 */
import { isIP } from 'node:net';

export const INVALID_CLIENT_ADDRESS = 'invalid';

export function clientAddress(ip: string | undefined): string {
  return ip !== undefined && isIP(ip) !== 0 ? ip : INVALID_CLIENT_ADDRESS;
}
