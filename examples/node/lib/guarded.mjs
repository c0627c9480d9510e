// The component in a worker thread, so that a runaway call can be stopped: JavaScript engines
// have no fuel, but a Worker can be terminated. Same interface as AutoconfigClient, but async:
// every call resolves after the handler has received that call's callbacks, in order. A call
// that takes longer than `callTimeoutMs` terminates the worker and rejects with TrapError; the
// next call starts a fresh worker (empty state: restart the stream).
import { Worker } from 'node:worker_threads';

import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_OUT_DIR, TrapError, settings } from './autoconfig.mjs';

export class GuardedClient {
  constructor(handler, { outDir = DEFAULT_OUT_DIR, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, logLevel = 'debug', callTimeoutMs = 60_000 } = {}) {
    this.handler = handler;
    this.outDir = outDir;
    this.settings = settings({ maxMessageBytes, logLevel });
    this.callTimeoutMs = callTimeoutMs;
    this.worker = null;
    this.ready = null;
    this.pending = new Map();
    this.nextId = 1;
    this.queue = Promise.resolve();
    this.nextDeadline = null;
  }

  #start() {
    const worker = new Worker(new URL('./guarded-worker.mjs', import.meta.url), {
      workerData: { outDir: this.outDir, settings: this.settings },
    });
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new TrapError(`the component worker exited (${code})`)));
      worker.on('message', (msg) => {
        if (msg.ready) {
          resolve();
          return;
        }
        const p = this.pending.get(msg.id);
        if (p) {
          this.pending.delete(msg.id);
          p(msg);
        }
      });
    });
    worker.on('error', (e) => this.#fail(worker, e.message));
    worker.on('exit', (code) => this.#fail(worker, `the component worker exited (${code})`));
  }

  #fail(worker, why) {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const p of this.pending.values()) p({ events: [], error: why });
    this.pending.clear();
  }

  async #call(op, args) {
    if (!this.worker) this.#start();
    const worker = this.worker;
    await this.ready;
    const id = this.nextId++;
    let timer;
    const msg = await new Promise((resolve) => {
      this.pending.set(id, resolve);
      timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ events: [], error: `call ${op} took longer than ${this.callTimeoutMs} ms`, timeout: true });
      }, this.callTimeoutMs);
      worker.postMessage({ id, op, args });
    });
    clearTimeout(timer);
    for (const [name, ...rest] of msg.events) {
      if (name === 'log') {
        if (this.handler.log) this.handler.log(...rest);
      } else {
        this.handler[name](...rest);
      }
    }
    if (msg.error !== undefined) {
      if (msg.timeout || this.worker !== worker) {
        this.worker = null;
        await worker.terminate();
      }
      this.nextDeadline = null;
      throw new TrapError(msg.error);
    }
    return msg.result;
  }

  /** Calls run one at a time, in the order they were made. */
  #serial(op, args) {
    const run = this.queue.then(() => this.#call(op, args));
    this.queue = run.catch(() => {});
    return run;
  }

  async configure(wanted) {
    this.settings = settings(wanted);
    return this.#serial('configure', [this.settings]);
  }

  async onEvent(name, data, now) {
    const d = await this.#serial('onEvent', [name, data, BigInt(now)]);
    this.nextDeadline = d.nextDeadline;
    return d;
  }

  async tick(now) {
    const next = await this.#serial('tick', [BigInt(now)]);
    this.nextDeadline = next;
    return next;
  }

  /** Stops the worker. */
  async close() {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
