/**
 * The forwarder's delivery step run on a worker thread (delivery-worker.ts). Ingest and
 * delivery each need most of a core at the ingest target; on one event loop, delivery fell
 * seconds behind under load and ingest latency tripled (docs/benchmarks.md). The WAL writer,
 * the cursor and every decision stay on the main thread; the thread only reads segment files
 * up to the end it is given, encodes and pushes.
 *
 * The thread holds the service's only connection pool to Loki (undici is loaded there, not on
 * the main thread): the readiness probe's GETs go through it too.
 *
 * The service starts the thread with itself, so a thread that cannot start fails the start
 * loudly. If the thread dies later, the requests in flight fail (the forwarder retries them
 * like any failed push) and the next request starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import type { BatchDelivery, DeliveryRequest, DeliveryResult } from './batch-delivery.js';
import { fromWire, type DeliveryThreadData, type ThreadReply, type ThreadRequest } from './delivery-wire.js';
import type { LokiAnswer, LokiClient } from './loki-client.js';

interface Pending {
  readonly resolve: (result: DeliveryResult | LokiAnswer) => void;
  readonly reject: (err: Error) => void;
}

/** How much longer than its own timeout a probe's GET may take to come back from the thread. */
const GET_REPLY_MARGIN_MS = 1000;

/**
 * The thread's garbage is batch-sized buffers that die young: a young generation of 8 MB
 * collects them as well as V8's default (up to 48 MB) and keeps ~30 MB less resident.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 8 };

/** Starts the thread's Worker. A parameter of the thread, so that tests can reach the Worker. */
export type SpawnWorker = (data: DeliveryThreadData) => Worker;

export function spawnWorker(data: DeliveryThreadData): Worker {
  // From the sources (the tests) the entry is TypeScript: the worker inherits the `--import` of
  // its parent's execArgv, which registers the resolve hook there too (scripts/resolve-ts.js).
  const entry = import.meta.url.endsWith('.ts') ? './delivery-worker.ts' : './delivery-worker.js';
  return new Worker(new URL(entry, import.meta.url), { workerData: data, resourceLimits: RESOURCE_LIMITS });
}

class DeliveryThread implements BatchDelivery {
  readonly #data: DeliveryThreadData;
  readonly #spawnWorker: SpawnWorker;
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closing: Promise<void> | null = null;

  constructor(data: DeliveryThreadData, spawn: SpawnWorker) {
    this.#data = data;
    this.#spawnWorker = spawn;
  }

  #spawn(): Worker {
    const worker = this.#spawnWorker(this.#data);
    worker.on('message', (reply: ThreadReply) => {
      if (reply.type === 'closed' || reply.type === 'ready') return;
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.type === 'result') pending?.resolve(fromWire(reply.result));
      else if (reply.type === 'answer') pending?.resolve(reply.answer);
      else pending?.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = null;
      for (const { reject } of this.#pending.values()) reject(err);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(logstackError('DELIVERY_THREAD_EXITED', [`exit code ${code}`])));
    return worker;
  }

  async start(): Promise<void> {
    const worker = (this.#worker ??= this.#spawn());
    await new Promise<void>((resolve, reject) => {
      const ready = (reply: ThreadReply) => {
        if (reply.type !== 'ready') return;
        worker.off('message', ready).off('error', reject).off('exit', exited);
        resolve();
      };
      const exited = (code: number) => reject(logstackError('DELIVERY_THREAD_EXITED', [`exit code ${code}`]));
      worker.on('message', ready).once('error', reject).once('exit', exited);
    });
  }

  deliver(request: DeliveryRequest): Promise<DeliveryResult> {
    return this.#ask((id) => ({ type: 'deliver', id, request })).reply as Promise<DeliveryResult>;
  }

  async get(path: string, timeoutMs: number): Promise<LokiAnswer> {
    const { id, reply } = this.#ask((id) => ({ type: 'get', id, path, timeoutMs }));
    // The thread bounds the GET itself; this bounds a thread too busy or too stuck to answer,
    // so that /readyz says "not ready" instead of hanging.
    const waitMs = timeoutMs + GET_REPLY_MARGIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the delivery thread did not answer within ${waitMs} ms`));
      }, waitMs);
    });
    try {
      return (await Promise.race([reply, late])) as LokiAnswer;
    } finally {
      clearTimeout(timer);
    }
  }

  #ask(message: (id: number) => Exclude<ThreadRequest, { type: 'close' }>): { id: number; reply: Promise<DeliveryResult | LokiAnswer> } {
    const id = this.#nextId++;
    if (this.#closing) return { id, reply: Promise.reject(logstackError('DELIVERY_THREAD_EXITED', ['closed'])) };
    const worker = (this.#worker ??= this.#spawn());
    const reply = new Promise<DeliveryResult | LokiAnswer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage(message(id));
    });
    return { id, reply };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const worker = this.#worker;
      if (!worker) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies ThreadRequest);
      await exited;
    })();
    return this.#closing;
  }
}

/** The batch delivery step, and Loki's readiness asked through the thread's connection pool. */
export interface DeliveryThreadHandle extends BatchDelivery, Pick<LokiClient, 'get'> {
  /** Starts the thread; resolves once it is ready to deliver. */
  start(): Promise<void>;
}

export function createDeliveryThread(loki: Config['loki'], version: string, spawn: SpawnWorker = spawnWorker): DeliveryThreadHandle {
  return new DeliveryThread({ loki, version }, spawn);
}
