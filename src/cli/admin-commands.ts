/**
 * `logstack flush | status | dead-letters`: an admin's view of a running service through its
 * admin API, without curl and without the admin token on the command line. Results go to
 * stdout, a failure is one line on stderr with its own exit code (src/cli/admin-failure.ts).
 */
import { loadConfig } from '../config/load.js';
import { isLogstackError } from '../errors.js';
import { createAdminClient, type AdminClient } from './admin-client.js';
import { ADMIN_EXIT_CODES, AdminFailure } from './admin-failure.js';
import { formatDeadLetters, formatFlush, formatFlushProgress, formatReplay, formatStatus } from './admin-output.js';
import { printable } from './text-format.js';
import { CA_VAR, resolveAdminTarget, TOKEN_VAR, URL_VAR, type AdminTarget } from './admin-target.js';
import { parseDuration } from './duration.js';

export type AdminCommand = 'flush' | 'status' | 'dead-letters';

export interface AdminIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Wall clock for the ages in `status` (ms since the epoch). */
  readonly now?: () => number;
  /** How long a request without a wait of its own may take (ms); the client's default otherwise. */
  readonly answerTimeoutMs?: number;
}

const FLUSH_WAIT_DEFAULT_SECONDS = 30;

const exitCodeTable = ADMIN_EXIT_CODES.map((e) => `  ${String(e.code).padStart(2)}  ${e.meaning}`).join('\n');

export const ADMIN_USAGE = `Admin commands, talking to a running LogStack's admin API:
  flush [--wait [--timeout 30s]]     seal the active segments and deliver now; with --wait, exit 0
                                     once everything appended before it is delivered, 1 with each
                                     key's progress when --timeout runs out
  status [--json]                    per key: backlog entries and bytes, oldest unshipped entry,
                                     delivery state, last push, dead letters
  dead-letters [--json]              per key: entries Loki refused for good, reasons, samples
  dead-letters --replay [--key NAME] requeue them (all keys, or one) once Loki accepts them

Options of every admin command:
  --url URL          the service, e.g. http://logstack-0.logstack:8000 (else $${URL_VAR},
                     else server.host and server.port of the configuration)
  --token-file FILE  a file holding the admin token (else $${TOKEN_VAR}, else the
                     configuration's security.admin_token); never give the token itself as an
                     argument: other users of the machine see arguments
  --ca FILE          PEM CAs to verify an https:// service with (else $${CA_VAR}, else the
                     system's; for the configuration's own service, the certificate it serves)
  --config FILE      the service's configuration, as for serve (else $LOGSTACK_CONFIG, else
                     ./config.yaml, with the same LOGSTACK_* overrides)
  --json             print the admin API's answer as JSON (flush, status, dead-letters)

Exit codes of the admin commands:
${exitCodeTable}
`;

interface AdminArgs {
  url?: string;
  tokenFile?: string;
  caFile?: string;
  config?: string;
  json: boolean;
  help: boolean;
  wait: boolean;
  timeoutSeconds?: number;
  replay: boolean;
  key?: string;
}

const COMMON = ['--url', '--token-file', '--ca', '--config', '--json', '--help'];
const OPTIONS: Record<AdminCommand, readonly string[]> = {
  flush: [...COMMON, '--wait', '--timeout'],
  status: COMMON,
  'dead-letters': [...COMMON, '--replay', '--key'],
};
const TAKES_VALUE = new Set(['--url', '--token-file', '--ca', '--config', '--timeout', '--key']);

function parseArgs(command: AdminCommand, args: readonly string[]): AdminArgs {
  const out: AdminArgs = { json: false, help: false, wait: false, replay: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    let flag = eq < 0 ? arg : arg.slice(0, eq);
    if (flag === '-h') flag = '--help';
    if (flag === '-c') flag = '--config';
    if (!OPTIONS[command].includes(flag)) {
      throw new AdminFailure('usage', arg.startsWith('-') ? `unknown option ${flag} for ${command}` : `unexpected argument for ${command}`);
    }
    let value = '';
    if (TAKES_VALUE.has(flag)) {
      value = (eq < 0 ? args[++i] : arg.slice(eq + 1)) ?? '';
      if (value === '') throw new AdminFailure('usage', `${flag} needs a value`);
    } else if (eq >= 0) {
      throw new AdminFailure('usage', `${flag} takes no value`);
    }
    switch (flag) {
      case '--url':
        out.url = value;
        break;
      case '--token-file':
        out.tokenFile = value;
        break;
      case '--ca':
        out.caFile = value;
        break;
      case '--config':
        out.config = value;
        break;
      case '--json':
        out.json = true;
        break;
      case '--help':
        out.help = true;
        break;
      case '--wait':
        out.wait = true;
        break;
      case '--timeout': {
        const ms = parseDuration(value);
        if (ms === undefined) throw new AdminFailure('usage', `--timeout needs a duration such as 30s, 2m or 500ms, not ${value}`);
        out.timeoutSeconds = ms / 1000;
        break;
      }
      case '--replay':
        out.replay = true;
        break;
      case '--key':
        out.key = value;
        break;
    }
  }
  if (out.timeoutSeconds !== undefined && !out.wait) throw new AdminFailure('usage', '--timeout goes with --wait');
  if (out.key !== undefined && !out.replay) throw new AdminFailure('usage', '--key goes with --replay');
  return out;
}

function target(args: AdminArgs, io: AdminIo): AdminTarget {
  return resolveAdminTarget({
    url: args.url,
    tokenFile: args.tokenFile,
    caFile: args.caFile,
    config: args.config,
    env: io.env,
    ...(io.cwd === undefined ? {} : { cwd: io.cwd }),
    loadConfig: (file) => {
      try {
        return loadConfig({ file, env: io.env, ...(io.cwd === undefined ? {} : { cwd: io.cwd }) });
      } catch (err) {
        // The loader's messages name key paths and never values, secrets least of all.
        if (isLogstackError(err)) throw new AdminFailure('config', err.message, { cause: err });
        throw err;
      }
    },
  });
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

async function run(command: AdminCommand, args: AdminArgs, client: AdminClient, io: AdminIo): Promise<number> {
  const now = io.now ?? Date.now;
  switch (command) {
    case 'flush': {
      const waitSeconds = args.wait ? (args.timeoutSeconds ?? FLUSH_WAIT_DEFAULT_SECONDS) : undefined;
      if (waitSeconds !== undefined && !args.json) io.stderr(`logstack: flushing; waiting up to ${waitSeconds} s for delivery\n`);
      const answer = await client.flush(waitSeconds);
      io.stdout(args.json ? json(answer) : formatFlush(answer, args.wait));
      return 0;
    }
    case 'status': {
      const status = await client.status();
      io.stdout(args.json ? json(status) : formatStatus(status, now()));
      return 0;
    }
    case 'dead-letters':
      if (args.replay) {
        const replayed = await client.replayDeadLetters(args.key);
        io.stdout(args.json ? json({ replayed }) : formatReplay(replayed));
      } else {
        const answer = await client.deadLetters();
        io.stdout(args.json ? json(answer) : formatDeadLetters(answer));
      }
      return 0;
  }
}

/** Runs one admin command; resolves with its exit code. */
export async function adminCommand(command: AdminCommand, argv: readonly string[], io: AdminIo): Promise<number> {
  let token: string | undefined;
  // The token may reach a message only by a service that echoes it back (a misrouted URL):
  // whatever is printed passes through here.
  const redact = (text: string) => (token === undefined || token === '' ? text : text.split(token).join('****'));
  // A failure's message may quote the service's answer: its control characters are escaped.
  const out: AdminIo = { ...io, stdout: (text) => io.stdout(redact(text)), stderr: (text) => io.stderr(printable(redact(text), true)) };
  let client: AdminClient | undefined;
  try {
    const args = parseArgs(command, argv);
    if (args.help) {
      out.stdout(ADMIN_USAGE);
      return 0;
    }
    const resolved = target(args, io);
    token = resolved.token;
    client = createAdminClient({ ...resolved, ...(io.answerTimeoutMs === undefined ? {} : { answerTimeoutMs: io.answerTimeoutMs }) });
    return await run(command, args, client, out);
  } catch (err) {
    if (!(err instanceof AdminFailure)) throw err;
    out.stderr(`logstack: ${err.message}${err.kind === 'usage' ? ` (logstack ${command} --help)` : ''}\n`);
    if (err.progress !== undefined) out.stderr(formatFlushProgress(err.progress));
    return err.exitCode;
  } finally {
    await client?.close();
  }
}
