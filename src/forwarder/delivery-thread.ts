/**
 * The forwarder's delivery step run on a worker thread (delivery-worker.ts). Ingest and
 * delivery each need most of a core at the ingest target; on one event loop, delivery fell
 * seconds behind under load and ingest latency tripled (docs/benchmarks.md). The WAL writer,
 * the cursor and every decision stay on the main thread; the thread only reads segment files
 * up to the end it is given, encodes and pushes.
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

interface Pending {
  readonly resolve: (result: DeliveryResult) => void;
  readonly reject: (err: Error) => void;
}

/**
 * The thread's garbage is batch-sized buffers that die young: a young generation of 8 MB
 * collects them as well as V8's default (up to 48 MB) and keeps ~30 MB less resident.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 8 };

function spawnWorker(data: DeliveryThreadData): Worker {
  if (import.meta.url.endsWith('.ts')) {
    // Running from source under tsx (the tests): on Node 20 a worker does not inherit tsx's
    // loader hooks, so the entry registers them before importing the TypeScript module.
    const entry = new URL('./delivery-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(`import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`, { eval: true, workerData: data, resourceLimits: RESOURCE_LIMITS });
  }
  return new Worker(new URL('./delivery-worker.js', import.meta.url), { workerData: data, resourceLimits: RESOURCE_LIMITS });
}

class DeliveryThread implements BatchDelivery {
  readonly #data: DeliveryThreadData;
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closing: Promise<void> | null = null;

  constructor(data: DeliveryThreadData) {
    this.#data = data;
  }

  #spawn(): Worker {
    const worker = spawnWorker(this.#data);
    worker.on('message', (reply: ThreadReply) => {
      if (reply.type === 'closed' || reply.type === 'ready') return;
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.type === 'result') pending?.resolve(fromWire(reply.result));
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
    if (this.#closing) return Promise.reject(logstackError('DELIVERY_THREAD_EXITED', ['closed']));
    const worker = (this.#worker ??= this.#spawn());
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'deliver', id, request } satisfies ThreadRequest);
    });
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

export interface DeliveryThreadHandle extends BatchDelivery {
  /** Starts the thread; resolves once it is ready to deliver. */
  start(): Promise<void>;
}

export function createDeliveryThread(loki: Config['loki'], version: string): DeliveryThreadHandle {
  return new DeliveryThread({ loki, version });
}
