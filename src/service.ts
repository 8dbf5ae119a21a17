/**
 * LogStack assembled: configuration in, a listening service out. Owns the order of things:
 * the WAL opens (and locks) before the HTTP edge accepts anything, and on shutdown the edge
 * stops accepting and lets requests in flight get their 202, the forwarder drains for a
 * bounded time, then the WAL closes and releases its lock.
 *
 * While running, `reload` applies a new configuration through the components' seams
 * (src/config/reload.ts), and HTTPS certificates follow their files (src/tls/tls-listener.ts).
 *
 * Lifecycle: new → starting → running → stopping → stopped; `stop` runs once.
 */
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigReloader, type ReloadOutcome } from './config/reload.js';
import type { Config } from './config/schema.js';
import { createDeliveryThread, type DeliveryThreadHandle } from './forwarder/delivery-thread.js';
import { Forwarder, type ForwarderObserver } from './forwarder/forwarder.js';
import { printableName } from './wal/printable-name.js';
import { createLokiHealth, type LokiHealth } from './forwarder/loki-health.js';
import { lokiEndpoints } from './forwarder/loki-url.js';
import { buildApp } from './http/app.js';
import { buildEdgeSettings, liveEdgeSettings } from './http/edge-settings.js';
import { createRateLimits } from './http/rate-limit.js';
import { walReadiness, type ReadinessCheck } from './http/readiness.js';
import { forwarderMetrics } from './observability/forwarder-metrics.js';
import { createMetrics, walObserver, type Metrics } from './observability/metrics.js';
import { TlsListener } from './tls/tls-listener.js';
import type { TlsMaterial } from './tls/tls-material.js';
import { createDiskWalStore } from './wal/disk-wal-store.js';
import { tokenDirName } from './wal/token-dir.js';
import type { WalObserver, WalStore } from './wal/types.js';

export interface ServiceOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly version: string;
  /** /readyz fails when a token with work has seen no push answer for this long (ms); max(60 s, 3 × loki.timeout_seconds) by default. */
  readonly stallBoundMs?: number;
  /** How often files the configuration names (certificates, keys) are checked for changes (ms). */
  readonly filePollIntervalMs?: number;
  /** How to read the configuration again, for `reload` and `server.reload_on_change`; no reload without it. */
  readonly reload?: { readonly load: () => Config; readonly configFile: string };
}

export type ServiceState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** /readyz fails when a token with work has seen no push answer for this long. */
function stallBoundMs(config: Config): number {
  return Math.max(60_000, 3 * config.loki.timeout_seconds * 1000);
}

function bothObservers<T extends object>(a: T, b: T): T {
  const out: Record<string, (...args: unknown[]) => void> = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const fa = (a as Record<string, ((...args: unknown[]) => void) | undefined>)[key];
    const fb = (b as Record<string, ((...args: unknown[]) => void) | undefined>)[key];
    out[key] = (...args) => {
      fa?.(...args);
      fb?.(...args);
    };
  }
  return out as T;
}

function walLogObserver(logger: Logger): WalObserver {
  return {
    damage: (token, { entries, segment, offset, bytes, reason }) =>
      logger.warn({ token_name: token, entries_lost: entries, segment, offset, bytes, reason }, entries > 0 ? 'WAL damage: entries lost' : 'WAL damage: nothing lost'),
    tornTail: (token, segment, bytes) => logger.warn({ token_name: token, segment, bytes }, 'WAL torn tail truncated at recovery (unacknowledged writes cut by a crash)'),
    cursorReset: (token, reason) => logger.warn({ token_name: token, reason }, 'WAL cursor not used; delivery restarts at the oldest segment (Loki drops duplicates)'),
    renamedAside: (token, name, renamedTo, reason) => logger.warn({ token_name: token, file: name, renamed_to: renamedTo, reason }, 'WAL: set aside (renamed, kept, not read)'),
    leftoverKey: (token) => logger.warn({ token_name: token }, 'WAL of a key no longer configured: its backlog is delivered; remove the folder once it is empty'),
    lockWait: (holder, staleSeconds) =>
      logger.warn(
        { holder, lock_stale_seconds: staleSeconds },
        holder === 'alive' ? 'WAL root locked by a running process; waiting for it to stop' : 'WAL root locked by another process; waiting for its lock to go stale',
      ),
    setAside: (token, name, reason) => logger.warn({ ...(token === null ? {} : { token_name: token }), file: name, reason }, 'WAL: a file that is not the WAL’s was left alone'),
    writeFailed: (token, err) => logger.error({ token_name: token, err }, 'WAL write failed'),
  };
}

function forwarderLogObserver(logger: Logger): ForwarderObserver {
  return {
    healthChanged: (token, from, to, detail) => {
      const level = to === 'ok' ? 'info' : to === 'retrying' ? 'warn' : 'error';
      logger[level]({ token_name: token, from, to, detail }, `delivery of token ${token} is ${to}`);
    },
    deadLettered: (token, reason, entries, dropped) => logger.warn({ token_name: token, reason, entries, dropped }, 'Loki refused entries; they are in the dead-letter store'),
    error: (token, err) => logger.error({ token_name: token, err }, 'forwarder error; delivery retries'),
    deadLetterDamaged: (token, file, lines, reason, keptIn) =>
      logger.warn({ token_name: token, file: `dead-letter/${file}`, lines, reason, kept_in: `dead-letter/${keptIn}` }, 'dead letters: lines that cannot be read'),
    deadLetterSetAside: (token, name, renamedTo, reason) =>
      logger.warn({ token_name: token, file: `dead-letter/${printableName(name)}`, renamed_to: printableName(renamedTo), reason }, 'dead letters: set aside (renamed, kept, not read)'),
  };
}

export class LogstackService {
  readonly #opts: ServiceOptions;
  readonly metrics: Metrics;
  readonly wal: WalStore;
  /** Pushes, and the GETs of Loki's readiness probe: the only connection pool to Loki. */
  readonly #delivery: DeliveryThreadHandle;
  /** Safe to log: no credentials. */
  readonly #lokiPushUrl: string;
  readonly #lokiHealth: LokiHealth;
  readonly forwarder: Forwarder;
  readonly app: FastifyInstance;
  /** HTTPS, when `server.tls` has a certificate. */
  readonly #tls: TlsListener | null;
  readonly #reloader: ConfigReloader | null;
  #state: ServiceState = 'new';
  #stopping: Promise<void> | null = null;

  /** Throws CONFIG_INVALID when the files of `server.tls` are unusable. */
  constructor(opts: ServiceOptions) {
    this.#opts = opts;
    const { config, logger } = opts;
    this.metrics = createMetrics();
    const served = (material: TlsMaterial) => this.metrics.tlsCertificateExpiry.set(material.certificate.validToDate.getTime() / 1000);
    this.#tls =
      config.server.tls.cert_file === undefined
        ? null
        : new TlsListener({
            tls: config.server.tls,
            logger,
            pollIntervalMs: opts.filePollIntervalMs,
            onReload: (ok, material) => {
              this.metrics.tlsLastReloadSuccessful.set(ok ? 1 : 0);
              if (material !== null) served(material);
            },
          });
    if (this.#tls !== null) {
      this.metrics.tlsLastReloadSuccessful.set(1);
      served(this.#tls.material);
    }
    const keys = Object.values(config.security.api_keys);
    const tenantOf = new Map(keys.map((k) => [k.name, k.tenant]));
    const quotaOf = new Map(keys.map((k) => [k.name, k.wal_quota_bytes ?? config.wal.token_wal_quota_bytes]));

    this.wal = createDiskWalStore({
      root: config.wal.wal_root_path,
      tokens: keys.map((k) => k.name),
      segmentMaxBytes: config.wal.segment_max_bytes,
      segmentMaxAgeSeconds: config.wal.segment_max_age_seconds,
      quotaBytes: (name) => quotaOf.get(name) ?? config.wal.token_wal_quota_bytes,
      sync: config.wal.sync,
      diskReservePercent: config.wal.disk_reserve_percent,
      lockStaleSeconds: config.wal.lock_stale_seconds,
      observer: bothObservers(walObserver(this.metrics), walLogObserver(logger)),
      onLockCompromised: (err) => {
        // Another process may now be writing this WAL: stop at once rather than interleave.
        logger.fatal({ err, root: config.wal.wal_root_path }, 'lost the WAL lock; exiting');
        process.exit(1);
      },
    });
    this.#delivery = createDeliveryThread(config.loki, opts.version);
    this.#lokiPushUrl = lokiEndpoints(config.loki.base_url).pushUrl;
    this.#lokiHealth = createLokiHealth(this.#delivery, { intervalMs: config.loki.ready_check_interval_seconds * 1000 });
    const metricsObserver = forwarderMetrics(this.metrics.registry, {
      forwarder: () => this.forwarder,
      lokiUp: () => {
        // Scrapes keep the probe fresh even where nothing polls /readyz; it is cached per interval.
        void this.#lokiHealth.check();
        return this.#lokiHealth.last?.ok ?? null;
      },
    });
    this.forwarder = new Forwarder({
      wal: this.wal,
      delivery: this.#delivery,
      loki: config.loki,
      tenantOf: (name) => tenantOf.get(name),
      deadLetterDir: (name) => join(config.wal.wal_root_path, tokenDirName(name), 'dead-letter'),
      observer: bothObservers(metricsObserver, forwarderLogObserver(logger)),
    });
    const edge = liveEdgeSettings(buildEdgeSettings(config));
    const rateLimits = createRateLimits(config.security);
    this.#reloader =
      opts.reload === undefined
        ? null
        : new ConfigReloader({
            running: config,
            load: opts.reload.load,
            seams: { edge, rateLimits, wal: this.wal, forwarder: this.forwarder, logger },
            metrics: this.metrics,
          });
    this.app = buildApp({
      config,
      settings: edge,
      rateLimits,
      wal: this.wal,
      metrics: this.metrics,
      logger,
      version: opts.version,
      readiness: {
        ...walReadiness(this.wal),
        loki: () => this.#lokiHealth.check(),
        forwarder: () => this.#forwarderReadiness(),
      },
      adminStatus: () => this.#adminStatus(),
      operations: {
        flush: (opts) => this.forwarder.flush(opts),
        deadLetters: () => this.forwarder.deadLetters(),
        replayDeadLetters: (token) => this.forwarder.replayDeadLetters(token),
      },
      ...(this.#tls === null ? {} : { https: this.#tls.serverOptions }),
    });
  }

  get state(): ServiceState {
    return this.#state;
  }

  /**
   * Reads the configuration again and applies what can change while running (see
   * src/config/reload.ts). Refused unless running.
   */
  async reload(trigger: string): Promise<ReloadOutcome> {
    if (this.#reloader === null) throw new TypeError('this service was built without a way to reload its configuration');
    if (this.#state !== 'running') return { ok: false, reason: `the service is ${this.#state}` };
    return this.#reloader.reload(trigger);
  }

  #forwarderReadiness(): ReadinessCheck {
    const stalled = this.forwarder.stalledMs();
    const running = this.forwarder.state === 'running';
    return {
      ok: running && stalled < (this.#opts.stallBoundMs ?? stallBoundMs(this.#opts.config)),
      detail: !running ? `forwarder is ${this.forwarder.state}` : stalled > 0 ? `no push answered for ${Math.round(stalled / 1000)} s while there is work` : 'running',
    };
  }

  async #adminStatus() {
    const loki = this.#lokiHealth.last;
    const tokens: Record<string, Record<string, unknown>> = {};
    for (const s of this.forwarder.status()) {
      tokens[s.token] = {
        tenant: s.tenant,
        delivery: s.health,
        consecutive_failures: s.consecutiveFailures,
        next_attempt_in_ms: s.nextAttemptInMs,
        last_push: s.lastPush && {
          result: s.lastPush.result,
          status: s.lastPush.status,
          message: s.lastPush.message,
          at: new Date(s.lastPush.atMs).toISOString(),
        },
        dead_letters: s.deadLetters,
      };
    }
    return {
      fields: {
        forwarder: { state: this.forwarder.state },
        loki: { url: this.#lokiPushUrl, reachable: loki?.ok ?? null, detail: loki?.detail ?? 'not checked yet' },
      },
      tokens,
    };
  }

  /** Opens the WAL (taking its lock) and starts the delivery thread, starts delivery, then listens. Returns the address. */
  async start(): Promise<string> {
    if (this.#state !== 'new') throw new TypeError(`service cannot start when ${this.#state}`);
    this.#state = 'starting';
    const { config, logger } = this.#opts;
    try {
      await Promise.all([this.wal.open(), this.#delivery.start()]);
      await this.forwarder.start();
      // Before the first connection can arrive. An HTTPS server: buildApp was given the TLS listener's options.
      this.#tls?.attach(this.app.server as unknown as TlsServer);
      const address = await this.app.listen({ host: config.server.host, port: config.server.port });
      if (this.#opts.reload !== undefined) this.#reloader?.watch(this.#opts.reload.configFile, this.#opts.filePollIntervalMs);
      this.#state = 'running';
      logger.info({ address, node: process.version, wal: config.wal.wal_root_path, loki: this.#lokiPushUrl, tokens: this.wal.tokens().map((t) => t.name) }, 'LogStack is serving');
      void this.#lokiHealth.check().then((r) => {
        if (!r.ok) logger.warn({ loki: this.#lokiPushUrl, detail: r.detail }, 'Loki is unreachable; entries are accepted and kept in the WAL until it is');
      });
      return address;
    } catch (err) {
      await this.#shutdown(0).catch(() => {});
      this.#state = 'stopped';
      throw err;
    }
  }

  /** Stops accepting, lets requests in flight finish, drains the forwarder for at most `drainMs`. */
  stop(drainMs = this.#opts.config.server.shutdown_timeout_seconds * 1000): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      await this.#shutdown(drainMs);
      this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  async #shutdown(drainMs: number): Promise<void> {
    this.#tls?.close();
    this.#reloader?.close();
    await this.app.close();
    await this.forwarder.stop(drainMs);
    await this.#delivery.close();
    await this.wal.close();
  }
}
