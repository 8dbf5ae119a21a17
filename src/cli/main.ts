/**
 * `logstack serve [--config FILE]`: load and validate the configuration, start the service,
 * reload its configuration on SIGHUP, stop it gracefully on SIGTERM/SIGINT. A second stop signal
 * exits at once: everything acknowledged is already fsync'd, so nothing acknowledged is lost by
 * not draining.
 * `logstack wal …` reads a WAL; `logstack flush | status | dead-letters` ask a running service.
 */
import { createRequire } from 'node:module';
import { resolveConfigPath } from '../config/env-overrides.js';
import { loadConfig, pinoLevel } from '../config/load.js';
import { isLogstackError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { ADMIN_USAGE, adminCommand } from './admin-commands.js';
import { applyHeapPolicy } from './heap-policy.js';
import { walCommand } from './wal-commands.js';

const USAGE = `Usage: logstack <command>

Commands:
  serve [--config FILE]   run the service (FILE, else $LOGSTACK_CONFIG, else ./config.yaml)
  flush                   deliver now; --wait until delivered (a preStop hook, a scale-down)
  status                  per key: backlog, oldest unshipped entry, delivery, dead letters
  dead-letters            entries Loki refused for good; --replay requeues them
  wal verify|stat|dump    inspect a WAL, read-only, also while the service runs (logstack wal help)
  help                    show this text
  version                 print the version

${ADMIN_USAGE}`;

export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

function parseServeArgs(args: string[]): { config?: string } | string {
  const out: { config?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config' || arg === '-c') {
      const value = args[++i];
      if (!value) return `${arg} needs a file`;
      out.config = value;
    } else if (arg.startsWith('--config=')) {
      out.config = arg.slice('--config='.length);
    } else {
      return `unknown argument ${arg}`;
    }
  }
  return out;
}

/**
 * SIGHUP's handler, installed before anything else `serve` does: the signal's default action
 * ends the process, and a reload can be asked for while it starts (a configuration tool
 * reloading every service it just changed). Until the service runs, requests are kept as one:
 * a reload then reads the files as they are by that time.
 */
function reloadOnSighup(): { running(service: { reload(trigger: string): Promise<unknown> }): void } {
  let service: { reload(trigger: string): Promise<unknown> } | null = null;
  let queued = false;
  process.on('SIGHUP', () => {
    if (service === null) queued = true;
    else void service.reload('SIGHUP');
  });
  return {
    running(started) {
      service = started;
      if (queued) void started.reload('SIGHUP');
      queued = false;
    },
  };
}

async function serve(args: string[]): Promise<number> {
  const sighup = reloadOnSighup();
  const parsed = parseServeArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`logstack: ${parsed}\n\n${USAGE}`);
    return 2;
  }
  applyHeapPolicy();
  let config;
  try {
    config = loadConfig({ file: parsed.config, env: process.env });
  } catch (err) {
    if (!isLogstackError(err)) throw err;
    process.stderr.write(`logstack: ${err.message}\n`);
    return 78; // EX_CONFIG
  }
  const logger = createLogger({ level: pinoLevel(config) });
  // Loaded here, not at the top: `logstack wal …` needs none of the service and starts faster.
  const { LogstackService } = await import('../service.js');
  let built;
  try {
    // The files the configuration names (server.tls) are read here: unusable ones are a bad configuration too.
    built = new LogstackService({
      config,
      logger,
      version: VERSION,
      reload: { load: () => loadConfig({ file: parsed.config, env: process.env }), configFile: resolveConfigPath(parsed.config, process.env).path },
    });
  } catch (err) {
    if (!isLogstackError(err)) throw err;
    process.stderr.write(`logstack: ${err.message}\n`);
    return 78;
  }
  const service = built;
  try {
    await service.start();
  } catch (err) {
    const message = isLogstackError(err, 'WAL_LOCKED') ? err.message : `could not start: ${(err as Error).message}`;
    logger.fatal({ err }, message);
    process.stderr.write(`logstack: ${message}\n`);
    return 1;
  }

  // As Prometheus, Alertmanager and nginx do: the outcome is logged and in the metrics.
  sighup.running(service);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now (everything acknowledged is on disk)');
        logger.flush();
        process.exit(130);
      }
      logger.info({ signal, drain_seconds: config.server.shutdown_timeout_seconds }, 'shutting down: finishing requests in flight, draining the forwarder');
      service.stop().then(
        () => {
          logger.info('stopped; WAL lock released');
          resolve(0);
        },
        (err: Error) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'wal':
      return walCommand(rest);
    case 'flush':
    case 'status':
    case 'dead-letters':
      return adminCommand(command, rest, {
        stdout: (text) => void process.stdout.write(text),
        stderr: (text) => void process.stderr.write(text),
        env: process.env,
      });
    case 'version':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`logstack: unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}
