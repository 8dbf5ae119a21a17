/**
 * The delivery thread's entry: the service's only LokiClient and the batch delivery step,
 * answering the forwarder's requests and the readiness probe's GETs (see delivery-thread.ts for
 * the other end and delivery-wire.ts for the message shapes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchDelivery } from './batch-delivery.js';
import { createLokiClient } from './loki-client.js';
import { toWire, type ThreadRequest, type ThreadReply, type DeliveryThreadData } from './delivery-wire.js';

const port = parentPort!;
const { loki, version } = workerData as DeliveryThreadData;
const client = createLokiClient(loki, { version });
const delivery = createBatchDelivery({ client, loki });

async function answer(message: Exclude<ThreadRequest, { type: 'close' }>): Promise<{ reply: ThreadReply; transfer: ArrayBuffer[] }> {
  if (message.type === 'get') return { reply: { type: 'answer', id: message.id, answer: await client.get(message.path, message.timeoutMs) }, transfer: [] };
  return toWire(message.id, await delivery.deliver(message.request));
}

port.on('message', async (message: ThreadRequest) => {
  if (message.type === 'close') {
    await delivery.close();
    port.postMessage({ type: 'closed' } satisfies ThreadReply);
    port.close();
    return;
  }
  try {
    const { reply, transfer } = await answer(message);
    port.postMessage(reply, transfer);
  } catch (err) {
    const { message: text, code } = err as NodeJS.ErrnoException;
    port.postMessage({ type: 'failed', id: message.id, message: String(text), ...(code ? { code } : {}) } satisfies ThreadReply);
  }
});
port.postMessage({ type: 'ready' } satisfies ThreadReply);
