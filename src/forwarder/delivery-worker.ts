/**
 * The delivery thread's entry: a LokiClient of its own and the batch delivery step, answering
 * the forwarder's requests (see delivery-thread.ts for the other end and the message shapes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchDelivery } from './batch-delivery.js';
import { createLokiClient } from './loki-client.js';
import { toWire, type ThreadRequest, type ThreadReply, type DeliveryThreadData } from './delivery-wire.js';

const port = parentPort!;
const { loki, version } = workerData as DeliveryThreadData;
const delivery = createBatchDelivery({ client: createLokiClient(loki, { version }), loki });

port.on('message', async (message: ThreadRequest) => {
  if (message.type === 'close') {
    await delivery.close();
    port.postMessage({ type: 'closed' } satisfies ThreadReply);
    port.close();
    return;
  }
  try {
    const { reply, transfer } = toWire(message.id, await delivery.deliver(message.request));
    port.postMessage(reply, transfer);
  } catch (err) {
    const { message: text, code } = err as NodeJS.ErrnoException;
    port.postMessage({ type: 'failed', id: message.id, message: String(text), ...(code ? { code } : {}) } satisfies ThreadReply);
  }
});
port.postMessage({ type: 'ready' } satisfies ThreadReply);
