/**
 * Reloading the configuration without a restart, on SIGHUP or, with `server.reload_on_change`,
 * when the configuration file or a secret file it names changes. The convention is
 * Prometheus': the new configuration is loaded and validated whole before anything changes; an
 * invalid one leaves the running one untouched, says why in the words a start would have used
 * (exit 78's), and sets `logstack_config_last_reload_successful` to 0 until a reload succeeds.
 *
 * What can change live is listed in LIVE_KEYS; a change to any other key (the listen address,
 * the WAL root, ...) is refused with a log line naming it, keeps its running value, and the rest
 * still applies. The changes are applied through one seam per component, in an order that makes
 * a new key's token valid only once its WAL, its delivery lane and its masking exist: the keyring
 * and pipelines are swapped last, in one step, for requests that arrive from then on. A removed
 * key keeps its WAL and lane until restart, so its backlog is still delivered.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { isLogstackError } from '../errors.js';
import type { DeliverySettings } from '../forwarder/forwarder.js';
import { buildEdgeSettings, type LiveEdgeSettings } from '../http/edge-settings.js';
import type { RateLimits } from '../http/rate-limit.js';
import type { Metrics } from '../observability/metrics.js';
import type { WalStore } from '../wal/types.js';
import { collectSecrets, configInvalid, type ConfigProblem } from './config-error.js';
import { fileSignatures, watchFiles, type FileWatcher } from './file-watcher.js';
import { crossKeyProblems, pinoLevel } from './load.js';
import type { Config } from './schema.js';

/** Keys (a whole section, or `section.key`) whose new value applies without a restart. */
export const LIVE_KEYS: readonly string[] = [
  'server.log_level',
  'server.debug',
  'security',
  'masking',
  'wal.token_wal_quota_bytes',
  'loki.batch_max_bytes',
  'loki.batch_max_entries',
  'loki.batch_max_wait_ms',
  'loki.backoff_initial_ms',
  'loki.backoff_max_ms',
  'loki.max_retries',
];

export interface ReloadPlan {
  /** The new configuration with every refused key at its running value: what will run. */
  readonly effective: Config;
  /** `section.key` paths that change. */
  readonly applied: readonly string[];
  /** `section.key` paths that changed in the file but need a restart. */
  readonly refused: readonly string[];
}

/** Compares two configurations key by key (second level), and keeps the live changes only. */
export function planReload(running: Config, next: Config): ReloadPlan {
  const effective = structuredClone(next) as unknown as Record<string, Record<string, unknown>>;
  const current = running as unknown as Record<string, Record<string, unknown>>;
  const applied: string[] = [];
  const refused: string[] = [];
  for (const section of Object.keys(current)) {
    const keys = new Set([...Object.keys(current[section] ?? {}), ...Object.keys(effective[section] ?? {})]);
    for (const key of keys) {
      const path = `${section}.${key}`;
      const before = current[section]?.[key];
      if (isDeepStrictEqual(before, effective[section]?.[key])) continue;
      if (LIVE_KEYS.includes(section) || LIVE_KEYS.includes(path)) {
        applied.push(path);
        continue;
      }
      refused.push(path);
      if (before === undefined) delete effective[section]![key];
      else effective[section]![key] = structuredClone(before);
    }
  }
  return { effective: effective as unknown as Config, applied, refused };
}

export interface KeyChanges {
  /** Names that were not configured before. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Names whose set of tokens changed (a rotation begun or ended). */
  readonly tokensChanged: readonly string[];
  /** Names whose settings changed (active, tenant, masking, limits, ...). */
  readonly settingsChanged: readonly string[];
}

/** What changed among the API keys, by name: tokens never leave this function. */
export function keyChanges(before: Config['security']['api_keys'], after: Config['security']['api_keys']): KeyChanges {
  const byName = (keys: Config['security']['api_keys']) => {
    const out = new Map<string, Map<string, unknown>>();
    for (const [token, key] of Object.entries(keys)) out.set(key.name, (out.get(key.name) ?? new Map()).set(token, key));
    return out;
  };
  const old = byName(before);
  const now = byName(after);
  const added = [...now.keys()].filter((name) => !old.has(name));
  const removed = [...old.keys()].filter((name) => !now.has(name));
  const tokensChanged: string[] = [];
  const settingsChanged: string[] = [];
  for (const [name, tokens] of now) {
    const previous = old.get(name);
    if (previous === undefined) continue;
    const sameTokens = tokens.size === previous.size && [...tokens.keys()].every((token) => previous.has(token));
    if (!sameTokens) tokensChanged.push(name);
    else if ([...tokens].some(([token, key]) => !isDeepStrictEqual(key, previous.get(token)))) settingsChanged.push(name);
  }
  return { added, removed, tokensChanged, settingsChanged };
}

/** What a reload changes, one seam per component. */
export interface ReloadSeams {
  readonly edge: LiveEdgeSettings;
  readonly rateLimits: Pick<RateLimits, 'apply'>;
  readonly wal: Pick<WalStore, 'addToken' | 'setQuotas' | 'tokens'>;
  readonly forwarder: { applyKeys(tenants: ReadonlyMap<string, string | undefined>): Promise<void>; applySettings(settings: DeliverySettings): void };
  /** Its level is set; reloads are logged to it. */
  readonly logger: Logger;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly applied: readonly string[]; readonly refused: readonly string[] }
  | { readonly ok: false; readonly reason: string };

export interface ConfigReloaderOptions {
  /** The configuration the service started with. */
  readonly running: Config;
  /** Reads the configuration again, as at start; throws CONFIG_INVALID or CONFIG_UNREADABLE. */
  readonly load: () => Config;
  readonly seams: ReloadSeams;
  readonly metrics: Pick<Metrics, 'configLastReloadSuccessful' | 'configLastReloadSuccessTimestamp'>;
  readonly clock?: () => number;
}

/**
 * Applies a planned configuration through the seams. What can fail comes first: compiling the
 * edge changes nothing, and a WAL or lane opened for a new key before a later failure is unused
 * until a reload that succeeds makes its token valid.
 */
async function apply(config: Config, seams: ReloadSeams): Promise<void> {
  const keys = Object.values(config.security.api_keys);
  const edge = buildEdgeSettings(config);
  for (const name of new Set(keys.map((k) => k.name))) await seams.wal.addToken(name);
  await seams.forwarder.applyKeys(new Map(keys.map((k) => [k.name, k.tenant])));
  const quotas = new Map(keys.map((k) => [k.name, k.wal_quota_bytes ?? config.wal.token_wal_quota_bytes]));
  seams.wal.setQuotas((name) => quotas.get(name) ?? config.wal.token_wal_quota_bytes);
  seams.forwarder.applySettings(config.loki);
  seams.rateLimits.apply(config.security);
  seams.edge.apply(edge);
  seams.logger.level = pinoLevel(config);
}

/**
 * Key names that differ only in case from a key whose WAL is open (configured, or still
 * delivering its backlog): a key's name is its WAL directory, and on a case-insensitive file
 * system (macOS, Windows) both would be one directory written by two WALs. One configuration
 * cannot hold such names (load.ts); a reload that renames a key could, so it is refused.
 */
export function caseClashes(config: Config, walNames: readonly string[]): ConfigProblem[] {
  const open = new Map(walNames.map((name) => [name.toLowerCase(), name]));
  const problems: ConfigProblem[] = [];
  for (const name of new Set(Object.values(config.security.api_keys).map((key) => key.name))) {
    const other = open.get(name.toLowerCase());
    if (other === undefined || other === name) continue;
    problems.push({
      path: 'security.api_keys',
      message: `a key is named ${JSON.stringify(name)}, and the WAL of ${JSON.stringify(other)} is open: a name is a WAL directory, and names that differ only in case are one directory on a case-insensitive file system; keep the spelling ${JSON.stringify(other)} or choose another name`,
    });
  }
  return problems;
}

export class ConfigReloader {
  readonly #opts: ConfigReloaderOptions;
  readonly #clock: () => number;
  #running: Config;
  /** The reload under way, and the one asked for while it runs (one is enough: it reads the latest files). */
  #current: Promise<ReloadOutcome> | null = null;
  #next: Promise<ReloadOutcome> | null = null;
  /** Whether the one asked for is only the quiet check of the start. */
  #nextQuiet = false;
  #watcher: FileWatcher | null = null;
  #watching: { configFile: string; intervalMs: number | undefined } | null = null;

  constructor(opts: ConfigReloaderOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#running = opts.running;
    opts.metrics.configLastReloadSuccessful.set(1);
    opts.metrics.configLastReloadSuccessTimestamp.set(this.#clock() / 1000);
  }

  /** The configuration in force. */
  get running(): Config {
    return this.#running;
  }

  /** Reloads once the reload under way, if any, is done; `trigger` is logged. */
  reload(trigger: string): Promise<ReloadOutcome> {
    return this.#enqueue(trigger, false);
  }

  #enqueue(trigger: string, quietIfUnchanged: boolean): Promise<ReloadOutcome> {
    if (this.#next) {
      // A reload asked for by someone is logged, even when it joins the quiet check of the start.
      if (!quietIfUnchanged) this.#nextQuiet = false;
      return this.#next;
    }
    this.#nextQuiet = quietIfUnchanged;
    const after = this.#current ?? Promise.resolve();
    const run = after.then(() => {
      const quiet = this.#nextQuiet;
      this.#next = null;
      this.#current = run;
      return this.#reload(trigger, quiet);
    });
    this.#next = run;
    void run.then(() => {
      if (this.#current === run) this.#current = null;
    });
    return run;
  }

  /**
   * With `quietIfUnchanged`, a reload that finds nothing to change logs nothing: the check made
   * when watching starts, of files read before it did.
   */
  async #reload(trigger: string, quietIfUnchanged: boolean): Promise<ReloadOutcome> {
    const { seams, metrics } = this.#opts;
    const log = seams.logger;
    // Before the files are read: a change made while they are, or after, is seen by the next watcher's first poll.
    const seen = this.#watching === null ? undefined : await fileSignatures(this.#watchedFiles(this.#running));
    let next: Config;
    let plan: ReloadPlan;
    let keys: KeyChanges;
    try {
      next = this.#opts.load();
      plan = planReload(this.#running, next);
      const problems = crossKeyProblems(plan.effective);
      if (problems.length > 0) {
        const restart = `; ${plan.refused.join(', ')} change only with a restart, so the new values cannot apply together`;
        throw configInvalid(plan.refused.length > 0 ? problems.map((p) => ({ ...p, message: p.message + restart })) : problems, collectSecrets(next));
      }
      const clashes = caseClashes(plan.effective, seams.wal.tokens().map((wal) => wal.name));
      if (clashes.length > 0) throw configInvalid(clashes, collectSecrets(next));
      keys = keyChanges(this.#running.security.api_keys, plan.effective.security.api_keys);
      const keysChanged = keys.added.length + keys.removed.length + keys.tokensChanged.length + keys.settingsChanged.length > 0;
      if (quietIfUnchanged && plan.applied.length === 0 && plan.refused.length === 0 && !keysChanged) {
        this.#rewatch(seen);
        return { ok: true, applied: [], refused: [] };
      }
      await apply(plan.effective, seams);
    } catch (err) {
      // A reload never takes the service down: whatever went wrong, the running configuration stays.
      const reason = isLogstackError(err) ? err.message : `internal error: ${(err as Error).message}`;
      metrics.configLastReloadSuccessful.set(0);
      log.error({ trigger, code: isLogstackError(err) ? err.code : undefined, reason }, 'configuration reload failed; the running configuration is unchanged');
      // A watcher that polled before this reload still holds what it saw then; without one, start it.
      if (this.#watcher === null) this.#rewatch(seen);
      return { ok: false, reason };
    }
    this.#running = plan.effective;
    metrics.configLastReloadSuccessful.set(1);
    metrics.configLastReloadSuccessTimestamp.set(this.#clock() / 1000);
    if (plan.refused.length > 0) {
      log.warn({ trigger, keys: plan.refused }, `not applied, these change only with a restart and keep their running values: ${plan.refused.join(', ')}`);
    }
    log.info(
      {
        trigger,
        applied: plan.applied,
        keys_added: keys.added,
        keys_removed: keys.removed,
        keys_with_new_tokens: keys.tokensChanged,
        keys_with_new_settings: keys.settingsChanged,
      },
      plan.applied.length === 0 ? 'configuration reloaded; nothing to change' : 'configuration reloaded',
    );
    this.#rewatch(seen);
    return { ok: true, applied: plan.applied, refused: plan.refused };
  }

  /**
   * With `server.reload_on_change`, reloads when the configuration file or a secret file it
   * names changes (the files of `server.tls` have their own watcher). The running configuration
   * was read before this call: the files are read again, quietly unless they changed meanwhile,
   * and watched from what they were before that.
   */
  watch(configFile: string, intervalMs?: number): void {
    if (!this.#running.server.reload_on_change) return;
    this.#watching = { configFile, intervalMs };
    void this.#enqueue('file change', true);
  }

  #watchedFiles(config: Config): string[] {
    const { security } = config;
    return [
      this.#watching!.configFile,
      ...(security.admin_token_file === undefined ? [] : [security.admin_token_file]),
      ...Object.values(security.api_keys).flatMap((key) => (key.token_file === undefined ? [] : [key.token_file])),
    ];
  }

  /**
   * A reload may name other secret files: the watch follows. The new watcher's first poll
   * compares with `seen`, taken before the files were read; a file not in it (newly named)
   * counts as changed, and is read once more.
   */
  #rewatch(seen: ReadonlyMap<string, string> | undefined): void {
    if (this.#watching === null) return;
    this.#watcher?.close();
    this.#watcher = watchFiles(this.#watchedFiles(this.#running), () => void this.reload('file change'), this.#watching.intervalMs, seen ?? new Map());
  }

  /** Stops watching; a reload under way finishes. */
  close(): void {
    this.#watching = null;
    this.#watcher?.close();
    this.#watcher = null;
  }
}
