/**
 * Bearer token authentication. Tokens are compared as SHA-256 digests with timingSafeEqual against
 * every configured token, so neither the length of a token nor which one matched shows in timing.
 * Only a key's NAME leaves this file: on the request, in logs and in metric labels.
 *
 * Loki's push endpoints also take the token as the password of Basic auth (the user is ignored):
 * some Loki clients offer nothing else (winston-loki; pino-loki short of custom headers).
 *
 * A key with a `client_subject` is bound to a client certificate: its token is accepted only on
 * a connection whose verified certificate carries that name, so a stolen token alone is not enough.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config/schema.js';
import { ERRORS, logstackError, type ErrorName } from '../errors.js';
import { verifiedClientNames } from '../tls/client-identity.js';
import { clientAddress } from './client-address.js';
import { routeLabel } from './route-label.js';

/** `token` label of refusals before any key was recognised; no key name can look like this. */
export const UNAUTHENTICATED = '(none)';

export interface Credentials {
  /** The API key the token belongs to, if any. */
  readonly key: { readonly name: string; readonly active: boolean; readonly clientSubject?: string } | null;
  readonly admin: boolean;
}

export type Access = 'ingest' | 'admin';

/** How a token may be sent: `Bearer <token>`, or `Basic base64(user:token)`. */
export type AuthScheme = 'bearer' | 'basic';

export interface Keyring {
  /** The credentials of an `Authorization` header in one of `schemes` (default: bearer only). */
  identify(authorization: string | undefined, schemes?: readonly AuthScheme[]): Credentials;
  readonly adminConfigured: boolean;
}

interface KnownToken {
  readonly digest: Buffer;
  readonly key: Credentials['key'];
  readonly admin: boolean;
}

const NOBODY: Credentials = Object.freeze({ key: null, admin: false });

// RFC 6750 §2.1: the scheme is case-insensitive; the token is one b64token.
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
// RFC 7617: the scheme is case-insensitive; the credentials are base64 of user-id ":" password.
const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i;
const BEARER_ONLY: readonly AuthScheme[] = ['bearer'];

/** The token in `authorization`, if it is sent in one of `schemes`. */
export function tokenOf(authorization: string | undefined, schemes: readonly AuthScheme[]): string | undefined {
  if (authorization === undefined) return undefined;
  if (schemes.includes('bearer')) {
    const bearer = BEARER.exec(authorization)?.[1];
    if (bearer !== undefined) return bearer;
  }
  if (!schemes.includes('basic')) return undefined;
  const basic = BASIC.exec(authorization)?.[1];
  if (basic === undefined) return undefined;
  const credentials = Buffer.from(basic, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon < 0 ? undefined : credentials.slice(colon + 1);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function createKeyring(security: Config['security']): Keyring {
  const known: KnownToken[] = Object.entries(security.api_keys).map(([token, key]) => ({
    digest: digest(token),
    key: { name: key.name, active: key.active, ...(key.client_subject === undefined ? {} : { clientSubject: key.client_subject }) },
    admin: false,
  }));
  if (security.admin_token !== undefined) known.push({ digest: digest(security.admin_token), key: null, admin: true });

  return {
    adminConfigured: security.admin_token !== undefined,
    identify(authorization, schemes = BEARER_ONLY) {
      const token = tokenOf(authorization, schemes);
      if (token === undefined) return NOBODY;
      const candidate = digest(token);
      let key: Credentials['key'] = null;
      let admin = false;
      // No early exit: the loop takes the same time whichever token matches, if any.
      for (const entry of known) {
        const match = timingSafeEqual(candidate, entry.digest);
        if (match && entry.key !== null) key = entry.key;
        if (match && entry.admin) admin = true;
      }
      return key === null && !admin ? NOBODY : { key, admin };
    },
  };
}

/**
 * Whether credentials may use an endpoint, from a connection whose verified client certificate
 * carries `clientNames`; the error to answer when not.
 */
export function authorize(access: Access, credentials: Credentials, adminConfigured: boolean, clientNames: readonly string[] = []): ErrorName | null {
  if (access === 'ingest') {
    const key = credentials.key;
    // Answered like an unknown token: the answer must not tell a token thief the token is good.
    if (!key?.active || (key.clientSubject !== undefined && !clientNames.includes(key.clientSubject))) return 'HTTP_UNAUTHORIZED';
    return null;
  }
  if (adminConfigured && credentials.admin) return null;
  return adminConfigured && credentials.key?.active ? 'HTTP_FORBIDDEN' : 'HTTP_UNAUTHORIZED';
}

function refusalReason(access: Access, credentials: Credentials, adminConfigured: boolean): string {
  if (credentials.key === null) return credentials.admin ? 'admin token used on an ingest endpoint' : 'missing or unknown token';
  if (!credentials.key.active) return 'inactive API key';
  if (access === 'ingest') return "no verified client certificate with the key's client_subject";
  return adminConfigured ? 'API key used on an admin endpoint' : 'admin endpoint, but no admin token is configured';
}

type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: an active API key; sets `request.keyName`. */
    requireApiKey: AuthHook;
    /** `requireApiKey` for Loki clients: the token as Bearer, or as the password of Basic auth. */
    requireLokiClientKey: AuthHook;
    /** onRequest hook: the admin token. */
    requireAdmin: AuthHook;
  }
  interface FastifyRequest {
    /** Name of the authenticated API key; null before authentication or on admin endpoints. */
    keyName: string | null;
    /** Whether an API key or the admin token was accepted for this request. */
    authenticated: boolean;
  }
}

/** The keyring is the request's own (edge-settings.ts): a reload never changes it under a request. */
export const authPlugin = fp(
  async (app) => {
    const hook =
      (access: Access, schemes: readonly AuthScheme[] = BEARER_ONLY): AuthHook =>
      async (request, reply) => {
        const { keyring } = request.settings;
        const credentials = keyring.identify(request.headers.authorization, schemes);
        const clientNames = credentials.key?.clientSubject === undefined ? [] : verifiedClientNames(request.raw.socket);
        const refusal = authorize(access, credentials, keyring.adminConfigured, clientNames);
        if (refusal === null) {
          request.authenticated = true;
          if (access === 'ingest') request.keyName = credentials.key!.name;
          return;
        }
        app.refusalLog.write(
          request,
          'warn',
          { event: 'auth_refused', status: ERRORS[refusal].status, route: routeLabel(request), client: clientAddress(request.ip), token_name: credentials.key?.name },
          refusalReason(access, credentials, keyring.adminConfigured),
        );
        if (refusal === 'HTTP_UNAUTHORIZED') reply.header('www-authenticate', schemes.includes('basic') ? 'Bearer realm="logstack", Basic realm="logstack"' : 'Bearer realm="logstack"');
        throw logstackError(refusal);
      };

    app.decorateRequest('keyName', null);
    app.decorateRequest('authenticated', false);
    app.decorate('requireApiKey', hook('ingest'));
    app.decorate('requireLokiClientKey', hook('ingest', ['bearer', 'basic']));
    app.decorate('requireAdmin', hook('admin'));
  },
  { name: 'logstack-auth', fastify: '5.x', dependencies: ['logstack-edge-settings', 'logstack-refusal-log'] },
);
