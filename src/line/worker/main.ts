/**
 * The line worker's entry: onnxruntime's `run` blocks its thread, so the line lives here and the
 * HTTP API (and later the OPC UA client) keep breathing on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { serializeError } from '../../errors/index.js';
import { LineEngine } from './engine.js';
import type { FromWorker, ToWorker, WorkerInit } from '../protocol.js';

const port = parentPort!;
const send = (msg: FromWorker): void => {
  // Frame pixels move to the main thread for recording without a copy.
  // Only whole, unshared buffers are transferred (a pooled Buffer slice would detach the pool).
  const data = msg.type === 'result' ? msg.result.image?.data : undefined;
  const transfer = data && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer as ArrayBuffer] : [];
  port.postMessage(msg, transfer);
};

const init = workerData as WorkerInit;
// libvips may use as many threads as onnxruntime does: one frame's resize then takes half the
// time (a raw 1920×1200 Mono8 frame to a 640×640 tensor: 3.6 → 2.3 ms on 2 cores).
sharp.concurrency(init.config.line.threads);
const engine = new LineEngine(init, send);
// Proof of life for the main thread's watchdog: a blocked worker (a hung model run) stops sending.
let beats = 0;
setInterval(() => {
  // Every 10 s the worker's own heap goes along (health and the soak watch it).
  const heapUsedBytes = beats++ % 40 === 0 ? process.memoryUsage().heapUsed : undefined;
  port.postMessage({ type: 'heartbeat', heapUsedBytes } satisfies FromWorker);
}, 250).unref();
port.on('message', (msg: ToWorker) => engine.handle(msg));
engine.start().then(
  (models) => send({ type: 'ready', models }),
  (err) => send({ type: 'fatal', error: serializeError(err, 'STN_ERR_LINE_WORKER') }),
);
