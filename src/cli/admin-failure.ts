/**
 * What can go wrong when `logstack flush | status | dead-letters` talks to a running service.
 * Each failure is one line on stderr and its own exit code, so that a script, a `preStop` hook
 * or a runbook step can tell "not delivered yet" from "wrong token" from "nothing listening".
 */

export type AdminFailureKind =
  /** flush --wait: the service answered 504 flush_timeout. */
  | 'not_delivered'
  /** Bad options, no URL, no admin token. */
  | 'usage'
  /** No connection: refused, unknown host, unreachable, reset before an answer. */
  | 'unreachable'
  /** 401. */
  | 'unauthorized'
  /** 403. */
  | 'forbidden'
  /** No complete answer in time, or a gateway's 504. */
  | 'timeout'
  /** An answer that is not the admin API's JSON. */
  | 'bad_answer'
  /** The service answered an error of its own (400, 5xx, 503 shutting_down). */
  | 'service_error'
  /** The configuration file is unreadable or invalid. */
  | 'config';

/** The exit codes, in the order `logstack help` and the README list them. */
export const ADMIN_EXIT_CODES: ReadonlyArray<{ readonly code: number; readonly kind: AdminFailureKind | 'ok'; readonly meaning: string }> = [
  { code: 0, kind: 'ok', meaning: 'done; for flush --wait: everything appended before the call is delivered' },
  { code: 1, kind: 'not_delivered', meaning: "flush --wait: not delivered within --timeout; each key's progress is printed" },
  { code: 2, kind: 'usage', meaning: 'usage: an unknown option or a bad value, no URL, no admin token' },
  { code: 3, kind: 'unreachable', meaning: 'cannot connect: connection refused, unknown host, network unreachable' },
  { code: 4, kind: 'unauthorized', meaning: '401: the admin token is wrong, or the service has none configured' },
  { code: 5, kind: 'forbidden', meaning: '403: the token is an API key, not the admin token' },
  { code: 6, kind: 'timeout', meaning: "no answer in time (10 s; flush --wait: --timeout + 10 s), or a gateway's 504" },
  { code: 7, kind: 'bad_answer', meaning: "an answer that is not the admin API's JSON: a wrong URL, a proxy's page, too large" },
  { code: 8, kind: 'service_error', meaning: 'the service refused: 400 (e.g. no key of that name), 500, 503 shutting down' },
  { code: 78, kind: 'config', meaning: 'the configuration file cannot be read or is invalid' },
];

export function exitCodeOf(kind: AdminFailureKind): number {
  return ADMIN_EXIT_CODES.find((e) => e.kind === kind)!.code;
}

export class AdminFailure extends Error {
  readonly kind: AdminFailureKind;
  readonly exitCode: number;
  /** flush --wait's progress per key, when the service sent it. */
  readonly progress: Readonly<Record<string, unknown>> | undefined;

  constructor(kind: AdminFailureKind, message: string, options: { progress?: Readonly<Record<string, unknown>>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AdminFailure';
    this.kind = kind;
    this.exitCode = exitCodeOf(kind);
    this.progress = options.progress;
  }
}
