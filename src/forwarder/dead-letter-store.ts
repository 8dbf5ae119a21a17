/**
 * Entries Loki refused for good (400 and the like), kept per token so an operator can see why
 * and replay them once Loki's limits are fixed. JSON lines, one refused batch a line, in
 * numbered files under `<token dir>/dead-letter/`; each write is fsync'd before the forwarder
 * moves its cursor past the batch. Bounded: past the quota the oldest files are dropped, and
 * the entries dropped are counted.
 *
 * A line lists the batch's label sets once (`label_sets`) and each entry refers to its own by
 * index (`l`), as the WAL does: a batch of many small entries of one large label set costs
 * about what it cost in the WAL, not the label set once per entry. Lines of the previous
 * release, with the label set in each entry (`labels`), are read too.
 */
import { constants, type Dirent } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { appendEntry, decodeEntryAdapter } from '../loki/entry-codec.js';
import { timestampNs, type LokiEntry } from '../loki/entry.js';
import type { ShippedEntry } from '../loki/push-request.js';
import { AppendBatchBuilder, type AppendBatch } from '../wal/append-batch.js';
import { fsyncDir } from '../wal/fs-sync.js';
import { printableName } from '../wal/printable-name.js';
import { fileKind, openRegularForReading } from '../wal/regular-file.js';
import { keepCopy, setAside } from '../wal/set-aside.js';

export interface DeadLetter {
  readonly atMs: number;
  readonly status: number;
  readonly reason: string;
  readonly message: string;
  readonly entries: LokiEntry[];
}

export interface DeadLetterSummary {
  readonly entries: number;
  readonly batches: number;
  readonly bytes: number;
  readonly droppedEntries: number;
  readonly reasons: Record<string, number>;
  /** The newest refusals, at most `samples`, each with its first entry. */
  readonly samples: Array<{ at: string; status: number; reason: string; message: string; entries: number; first: { ts: string; labels: string; line: string } }>;
}

interface FileInfo {
  readonly n: number;
  bytes: number;
  batches: number;
  entries: number;
  reasons: Map<string, number>;
  /** Lines found unreadable when it was counted (reported then, not again). */
  unreadable: number;
}

const FILE = /^(\d{16})\.jsonl$/;
const SAMPLE_LINE_CHARS = 512;
/** Entries per WAL append during a replay: the size of a large ingest request. */
const REPLAY_CHUNK = 1000;

function fileName(n: number): string {
  return `${String(n).padStart(16, '0')}.jsonl`;
}

interface StoredEntry {
  s: number;
  n: number;
  /** Index of the label set in the line's `label_sets`. */
  l?: number;
  /** The label set itself, in lines of the previous release. */
  labels?: string;
  line: string;
  sm: Array<[string, string]>;
}

interface StoredLine {
  at: number;
  status: number;
  reason: string;
  message: string;
  label_sets?: string[];
  entries: StoredEntry[];
}

/** How every stored line begins and ends: `entries` is its last field. */
const LINE_START = '{"at":';
const LINE_END = ']}';
/** What begins each stored entry, and cannot appear inside a JSON string (its quote would be escaped). */
const ENTRY_START = '{"s":';
const REASON = /"reason":("(?:[^"\\]|\\.)*")/;

/**
 * Counts a file's refused batches, entries and reasons without parsing its entries: at start
 * a dead-letter store may hold hundreds of MB that nothing needs but these numbers. Returns the
 * lines that do not begin and end like a stored line (damaged): they are not counted.
 */
function countLines(text: string, info: FileInfo, count: (info: FileInfo, reason: string, entries: number) => void): number {
  let unreadable = 0;
  let from = 0;
  while (from < text.length) {
    let end = text.indexOf('\n', from);
    if (end < 0) end = text.length;
    if (text.startsWith(LINE_START, from) && text.startsWith(LINE_END, end - LINE_END.length)) {
      const reasonMatch = REASON.exec(text.slice(from, Math.min(end, from + 4096)));
      let entries = 0;
      for (let at = text.indexOf(ENTRY_START, from); at >= 0 && at < end; at = text.indexOf(ENTRY_START, at + ENTRY_START.length)) entries++;
      count(info, reasonMatch === null ? 'unknown' : (JSON.parse(reasonMatch[1]!) as string), entries);
    } else if (end > from) {
      unreadable++;
    }
    from = end + 1;
  }
  return unreadable;
}

function parseLine(text: string): StoredLine | null {
  try {
    const v = JSON.parse(text) as StoredLine;
    return Array.isArray(v.entries) ? v : null;
  } catch {
    // A line torn by a crash mid-write: its batch was not acknowledged, the WAL still has it.
    return null;
  }
}

function labelsOf(line: StoredLine, e: StoredEntry): string {
  return e.labels ?? line.label_sets?.[e.l ?? -1] ?? '';
}

export interface DeadLetterObserver {
  /** Something that was not a dead-letter file held one's name; renamed aside (printable names). */
  setAside?(name: string, renamedTo: string, reason: string): void;
  /** Lines of `file` that cannot be read (or replayed), and where they are kept. */
  damaged?(file: string, lines: number, reason: string, keptIn: string): void;
}

export interface DeadLetterStoreOptions {
  /** Only read, never change anything: for `logstack wal`, beside a running service. */
  readonly readOnly?: boolean;
  readonly observer?: DeadLetterObserver;
}

export class DeadLetterStore {
  readonly #dir: string;
  readonly #quotaBytes: number;
  readonly #readOnly: boolean;
  readonly #observer: DeadLetterObserver;
  readonly #problems: string[] = [];
  /** A failed write could not be cut off the last file: the next write goes to a new one. */
  #tornEnd = false;
  #files: FileInfo[] = [];
  #dropped = 0;
  #chain: Promise<unknown> = Promise.resolve();
  /** Done once every file present at open is counted. */
  #counted: Promise<void> = Promise.resolve();

  constructor(dir: string, quotaBytes: number, opts: DeadLetterStoreOptions = {}) {
    this.#dir = dir;
    this.#quotaBytes = quotaBytes;
    this.#readOnly = opts.readOnly ?? false;
    this.#observer = opts.observer ?? {};
  }

  async open(): Promise<void> {
    let found: Dirent[] = [];
    try {
      found = await readdir(this.#dir, { withFileTypes: true });
    } catch (err) {
      // Not a folder: the WAL's start sets it aside (token-dir-survey.ts), and verify reports it there.
      const { code } = err as NodeJS.ErrnoException;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    const numbers: number[] = [];
    for (const e of found.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const m = FILE.exec(e.name);
      if (!m) continue;
      if (e.isFile()) {
        numbers.push(Number(m[1]));
        continue;
      }
      // Read, a folder fails and a FIFO blocks; left in place, its number is written to one day.
      const reason = `${fileKind(e)} named like a dead-letter file`;
      if (this.#readOnly) {
        this.#problems.push(`${printableName(e.name)}: ${reason}; set aside at the next start`);
      } else {
        this.#observer.setAside?.(e.name, await setAside(this.#dir, e.name), reason);
      }
    }
    numbers.sort((a, b) => a - b);
    for (const n of numbers) {
      const { size } = await stat(join(this.#dir, fileName(n)));
      this.#files.push({ n, bytes: size, batches: 0, entries: 0, reasons: new Map(), unreadable: 0 });
    }
    // Start-up costs what is pending, not the dead letters: they are counted after it, a file
    // at a time, before any write (writes queue behind the count) and before any summary.
    this.#counted = this.#serial(() => this.#countFiles([...this.#files]));
  }

  async #countFiles(files: readonly FileInfo[]): Promise<void> {
    for (const info of files) {
      await yieldToEventLoop();
      const bytes = await this.#readBytes(info);
      if (bytes === null) continue;
      const name = fileName(info.n);
      // In bytes, not decoded text: a damaged earlier line would shift decoded offsets.
      const whole = bytes.lastIndexOf(0x0a) + 1;
      if (whole < bytes.length) {
        // A write torn by a crash (or cut short by a full disk): the next line appended would
        // join it into one that cannot be read. Its batch was not acknowledged: the WAL has it.
        const torn = bytes.subarray(whole);
        if (this.#readOnly) {
          this.#problems.push(`${name}: its last line is unterminated (${torn.length} bytes, a write torn by a crash): cut and kept aside at the next start`);
        } else {
          const keptIn = await keepCopy(this.#dir, name, '.torn', torn);
          await this.#truncate(name, whole);
          info.bytes = whole;
          this.#observer.damaged?.(name, 1, `an unterminated last line (${torn.length} bytes, a write torn by a crash) was cut`, keptIn);
        }
      }
      const text = bytes.toString('utf8', 0, whole);
      const unreadable = countLines(text, info, (i, reason, entries) => this.#count(i, reason, entries));
      info.unreadable = unreadable;
      if (unreadable > 0) {
        const what = `${unreadable} line${unreadable === 1 ? '' : 's'} that cannot be read`;
        if (this.#readOnly) this.#problems.push(`${name}: ${what}; a replay keeps the file as ${name}.damaged`);
        else this.#observer.damaged?.(name, unreadable, `${what}; a replay keeps the file as .damaged`, name);
      }
    }
  }

  /** A dead-letter file's text; null when it is gone, or is no longer a file (reported). */
  async #readText(info: FileInfo): Promise<string | null> {
    return (await this.#readBytes(info))?.toString('utf8') ?? null;
  }

  async #readBytes(info: FileInfo): Promise<Buffer | null> {
    let fh;
    try {
      fh = await openRegularForReading(join(this.#dir, fileName(info.n)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if ('notAFile' in fh) {
      this.#problems.push(`${fileName(info.n)} is ${fh.notAFile}, not a file: not read`);
      return null;
    }
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async #truncate(name: string, bytes: number): Promise<void> {
    const fh = await open(join(this.#dir, name), constants.O_WRONLY | constants.O_NOFOLLOW);
    try {
      await fh.truncate(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** What is wrong in the store, for `logstack wal verify`; complete once `count()` has resolved. */
  async problems(): Promise<readonly string[]> {
    await this.#counted;
    return this.#problems;
  }

  /** Entries in the store, once every file present at open is counted. */
  async count(): Promise<number> {
    await this.#counted;
    return this.entries;
  }

  #count(info: FileInfo, reason: string, entries: number): void {
    info.batches += 1;
    info.entries += entries;
    info.reasons.set(reason, (info.reasons.get(reason) ?? 0) + entries);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(fn);
    this.#chain = result.catch(() => {});
    return result;
  }

  /** Durably records a refused batch; resolves after the fsync. Returns entries dropped to stay in quota. */
  write(refused: readonly ShippedEntry[], status: number, reason: string, message: string, atMs: number): Promise<number> {
    return this.#serial(async () => {
      const index = new Map<string, number>();
      const labelSets: string[] = [];
      const entries = refused.map(({ labels, entry }): StoredEntry => {
        let l = index.get(labels);
        if (l === undefined) {
          l = labelSets.push(labels) - 1;
          index.set(labels, l);
        }
        const e = decodeEntryAdapter(entry, labels);
        return { s: e.seconds, n: e.nanos, l, line: e.line, sm: e.structuredMetadata.map(([k, v]) => [k, v] as [string, string]) };
      });
      const line = `${JSON.stringify({ at: atMs, status, reason, message, label_sets: labelSets, entries } satisfies StoredLine)}\n`;
      const bytes = Buffer.byteLength(line);
      await mkdir(this.#dir, { recursive: true });
      let current = this.#files.at(-1);
      const created = !current || this.#tornEnd || current.bytes + bytes > this.#quotaBytes / 4;
      if (created) {
        current = { n: (current?.n ?? 0) + 1, bytes: 0, batches: 0, entries: 0, reasons: new Map(), unreadable: 0 };
        this.#files.push(current);
        this.#tornEnd = false;
      }
      const fh = await open(join(this.#dir, fileName(current!.n)), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW);
      try {
        await fh.writeFile(line);
        await fh.sync();
      } catch (err) {
        // A part of the line may be on disk (ENOSPC mid-write): cut it off, or the next line would
        // join it into one that cannot be read. If even that fails, the next write starts a file.
        await fh.truncate(current!.bytes).catch(() => {
          this.#tornEnd = true;
        });
        throw err;
      } finally {
        await fh.close();
      }
      if (created) await fsyncDir(this.#dir);
      current!.bytes += bytes;
      this.#count(current!, reason, entries.length);
      return this.#enforceQuota();
    });
  }

  async #enforceQuota(): Promise<number> {
    let dropped = 0;
    while (this.#files.length > 1 && this.#totalBytes() > this.#quotaBytes) {
      const oldest = this.#files.shift()!;
      await rm(join(this.#dir, fileName(oldest.n)), { force: true });
      dropped += oldest.entries;
    }
    this.#dropped += dropped;
    return dropped;
  }

  #totalBytes(): number {
    return this.#files.reduce((n, f) => n + f.bytes, 0);
  }

  /** Entries counted so far: all of them, once `count()` has resolved. */
  get entries(): number {
    return this.#files.reduce((n, f) => n + f.entries, 0);
  }

  async summary(samples = 5): Promise<DeadLetterSummary> {
    await this.#counted;
    const reasons: Record<string, number> = {};
    for (const f of this.#files) for (const [r, n] of f.reasons) reasons[r] = (reasons[r] ?? 0) + n;
    const newest: DeadLetterSummary['samples'] = [];
    for (const f of [...this.#files].reverse()) {
      if (newest.length >= samples) break;
      const lines = (await this.#read(f)).reverse();
      for (const l of lines) {
        if (newest.length >= samples) break;
        const first = l.entries[0];
        newest.push({
          at: new Date(l.at).toISOString(),
          status: l.status,
          reason: l.reason,
          message: l.message,
          entries: l.entries.length,
          first: first ? { ts: timestampNs(first.s, first.n), labels: labelsOf(l, first), line: first.line.slice(0, SAMPLE_LINE_CHARS) } : { ts: '', labels: '', line: '' },
        });
      }
    }
    return { entries: this.entries, batches: this.#files.reduce((n, f) => n + f.batches, 0), bytes: this.#totalBytes(), droppedEntries: this.#dropped, reasons, samples: newest };
  }

  async #read(f: FileInfo): Promise<StoredLine[]> {
    const text = (await this.#readText(f)) ?? '';
    return text.split('\n').flatMap((l) => {
      const parsed = l ? parseLine(l) : null;
      return parsed ? [parsed] : [];
    });
  }

  /**
   * Hands every dead letter, oldest first, to `requeue` (which appends them to the WAL) in
   * batches of at most REPLAY_CHUNK entries, and deletes each file once its entries are
   * requeued. Returns the entries requeued.
   */
  replay(requeue: (batch: AppendBatch) => Promise<void>): Promise<number> {
    return this.#serial(async () => {
      let requeued = 0;
      while (this.#files.length > 0) {
        const f = this.#files[0]!;
        let builder = new AppendBatchBuilder();
        let unreadable = 0;
        for (const raw of ((await this.#readText(f)) ?? '').split('\n')) {
          if (raw === '') continue;
          const l = parseLine(raw);
          if (l === null) {
            unreadable++;
            continue;
          }
          for (const e of l.entries) {
            const entry: LokiEntry = { seconds: e.s, nanos: e.n, labels: labelsOf(l, e), line: e.line, structuredMetadata: e.sm };
            appendEntry(builder, entry);
            if (builder.entries === REPLAY_CHUNK) {
              await requeue(builder.build());
              requeued += builder.entries;
              builder = new AppendBatchBuilder();
            }
          }
        }
        if (builder.entries > 0) {
          await requeue(builder.build());
          requeued += builder.entries;
        }
        const name = fileName(f.n);
        if (unreadable > 0) {
          // Never deleted with lines nobody could replay: kept for an operator to mend.
          const keptIn = await setAside(this.#dir, name, '.damaged');
          // Lines counted at start are not counted again; only those damaged since are new.
          this.#observer.damaged?.(name, Math.max(0, unreadable - f.unreadable), `${unreadable} line${unreadable === 1 ? '' : 's'} could not be replayed; the rest were`, keptIn);
        } else {
          await rm(join(this.#dir, name), { force: true });
        }
        this.#files.shift();
      }
      await fsyncDir(this.#dir).catch(() => {});
      return requeued;
    });
  }
}
