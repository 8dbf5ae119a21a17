/**
 * The ingest path before the WAL: validate the whole body, mask each entry with the policy of
 * the API key that sent it, build its Loki entry and encode the WAL payload.
 *
 * Everything that depends only on the config (masking policies per key name, value patterns,
 * label building) is compiled here once; `prepare` does per-entry work only, in turns
 * (src/pipeline/cpu-turns.ts).
 */
import type { Config } from '../../config/schema.js';
import { appendEntry } from '../../loki/entry-codec.js';
import type { LokiEntry } from '../../loki/entry.js';
import { compilePolicies, type MaskingPolicy } from '../../masking/policy.js';
import { CpuTurns } from '../../pipeline/cpu-turns.js';
import type { Limits } from '../../pipeline/limits.js';
import type { EntryProblem, IngestPipeline, PreparedBatch } from '../../pipeline/types.js';
import { AppendBatchBuilder } from '../../wal/append-batch.js';
import type { WalRoom } from '../../wal/types.js';
import { createLokiEntryBuilder, type LokiEntryBuilder } from './to-loki-entry.js';
import { validateIngestBody, validationFailed, type ValidatedEntry } from './validate.js';

class Pipeline implements IngestPipeline {
  readonly #limits: Limits;
  readonly #policies: Map<string, MaskingPolicy>;
  readonly #builder: LokiEntryBuilder;
  readonly #turns = new CpuTurns();
  /** What an over-long line is made of, for the problem's pointer and reason. */
  readonly #line: { readonly pointer: string; readonly what: string };

  constructor(config: Config) {
    this.#limits = config.limits;
    this.#policies = compilePolicies(config);
    this.#builder = createLokiEntryBuilder(config.loki);
    this.#line =
      config.loki.metadata_mode === 'json_line'
        ? { pointer: '', what: 'the JSON line of message and metadata' }
        : { pointer: '/message', what: 'the message' };
  }

  async prepare(keyName: string, body: unknown, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedBatch> {
    const policy = this.#policies.get(keyName);
    if (policy === undefined) throw new TypeError(`No API key is named ${keyName}`);
    return this.#turns.run(keyName, () => this.#prepare(policy, body, nowMs, room), clientGone);
  }

  async #prepare(policy: MaskingPolicy, body: unknown, nowMs: number, room: WalRoom | undefined): Promise<PreparedBatch> {
    const entries = validateIngestBody(body, this.#limits, nowMs);
    const batch = new AppendBatchBuilder(room, { entries: entries.length });
    let problems: EntryProblem[];
    try {
      problems = await this.#build(entries, policy, batch);
    } catch (err) {
      // Refused by the WAL's room while building, or failed: the caches learn nothing from it.
      this.#builder.abandon();
      throw err;
    }
    if (problems.length > 0) {
      // What the builder's caches learnt from a refused batch is not kept.
      this.#builder.abandon();
      throw validationFailed(problems, entries.length);
    }
    this.#builder.commit();
    const built = batch.build();
    return { batch: built, entries: entries.length, bytes: built.data.length };
  }

  /** Builds and encodes every entry into `batch`; returns the problems found after masking. */
  async #build(entries: readonly ValidatedEntry[], policy: MaskingPolicy, batch: AppendBatchBuilder): Promise<EntryProblem[]> {
    const problems: EntryProblem[] = [];
    for (let i = 0; i < entries.length; i++) {
      const pause = this.#turns.pause();
      if (pause !== undefined) await pause;
      // Its own function: values that live across an `await` are boxed on the heap, per entry.
      this.#buildEntry(entries[i]!, i, policy, batch, problems);
    }
    return problems;
  }

  /** Builds and encodes entry `index` into `batch`, or adds why it is refused to `problems`. */
  #buildEntry({ entry, seconds, nanos }: ValidatedEntry, index: number, policy: MaskingPolicy, batch: AppendBatchBuilder, problems: EntryProblem[]): void {
    const maxLineBytes = this.#limits.max_message_bytes;
    const loki = this.#builder.build(entry, policy, seconds, nanos);
    // Loki refuses a line over its max_line_size; refused now, it is the client's to fix,
    // accepted it would only end as a dead letter.
    if (loki.line.length * 3 > maxLineBytes && Buffer.byteLength(loki.line, 'utf8') > maxLineBytes) {
      problems.push({
        index,
        pointer: `/entries/${index}${this.#line.pointer}`,
        reason: `after masking, ${this.#line.what} is longer than ${maxLineBytes} UTF-8 bytes (limits.max_message_bytes)`,
      });
      return;
    }
    const metadataBytes = structuredMetadataOver(loki, this.#limits.max_structured_metadata_bytes);
    if (metadataBytes !== null) {
      problems.push({
        index,
        pointer: `/entries/${index}/metadata`,
        reason: `as Loki structured metadata it is ${metadataBytes} bytes, over ${this.#limits.max_structured_metadata_bytes} (limits.max_structured_metadata_bytes)`,
      });
      return;
    }
    // Once the batch is refused, encoding the rest would be wasted.
    if (problems.length === 0) appendEntry(batch, loki);
  }
}

/**
 * The size Loki counts against max_structured_metadata_size (names and values, UTF-8 bytes)
 * when it is over `limit`, else null. UTF-16 units × 3 bound the bytes, so most entries are
 * cleared without encoding anything.
 */
function structuredMetadataOver(entry: LokiEntry, limit: number): number | null {
  let units = 0;
  for (const [name, value] of entry.structuredMetadata) units += name.length + value.length;
  if (units * 3 <= limit) return null;
  let bytes = 0;
  for (const [name, value] of entry.structuredMetadata) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes > limit ? bytes : null;
}

/**
 * The pipeline of `config`. Throws CONFIG_INVALID for a custom value pattern that does not
 * compile, and TypeError when two API keys share a name but not a masking override.
 */
export function createIngestPipeline(config: Config): IngestPipeline {
  return new Pipeline(config);
}
