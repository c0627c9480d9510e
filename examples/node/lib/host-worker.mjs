// The whole stream client of host.mjs, in a worker thread: the component, the fetch loop and the
// JSON lines. The main thread only supervises (host.mjs): it writes what this worker sends, and
// terminates and replaces it when a call into the component runs past --call-timeout.
//
// To the main thread, one-way:
//   {type: 'io', out, err, lastEventId}  stdout and stderr text, and the stream's last event id
//                                  when it changed (else null): one message per call at most
//   {type: 'done', stop}           the run ended: stop = 'invalid-key', or null after 'shutdown'
//   {type: 'usage', message}       the options were refused (exit 2)
//   {type: 'failed', message, started}  a trap or another error; `started`: start() had succeeded
// From the main thread: {type: 'shutdown'}.
// `busy` (a shared BigInt64Array of one slot) holds when the current component call began, on
// the monotonic clock of process.hrtime.bigint() (the same for every thread), 0 between calls:
// the main thread's watchdog reads it.
import { parentPort, workerData } from 'node:worker_threads';

import { Component, StreamClient, StreamOptionsError, jsonLinesHandler, streamOptions } from './autoconfig.mjs';
import { createLogger, runStream } from './stream-runner.mjs';

const { outDir, settings, options, userAgent, logLevel } = workerData;
const busy = new BigInt64Array(workerData.busy);

let out = [];
let err = '';
let lastEventId = null; // changed by the last call, not yet sent
let inCall = false; // output made during a component call is sent in one message after it
const log = createLogger(logLevel, (line) => {
  err += line;
  if (!inCall) flush();
});
function flush() {
  if (out.length === 0 && err === '' && lastEventId === null) return;
  parentPort.postMessage({ type: 'io', out: out.length ? `${out.join('\n')}\n` : '', err, lastEventId });
  out = [];
  err = '';
  lastEventId = null;
}
const post = (message) => {
  flush();
  parentPort.postMessage(message);
};

let client;
let checked;
try {
  checked = streamOptions(options);
} catch (e) {
  post({ type: 'usage', message: e.message });
  process.exit(0);
}
try {
  const component = await Component.load(outDir);
  client = new StreamClient(
    component,
    jsonLinesHandler((line) => out.push(line), (level, message) => log(level, `autoconfig: ${message}`)),
    settings,
  );
} catch (e) {
  post({ type: 'failed', message: String(e?.message ?? e), started: false });
  process.exit(0);
}

const controller = new AbortController();
parentPort.on('message', (m) => {
  if (m?.type === 'shutdown') controller.abort();
});
let started = false;
try {
  const { stop } = await runStream(client, checked, {
    userAgent,
    log,
    signal: controller.signal,
    beforeCall: () => {
      inCall = true;
      Atomics.store(busy, 0, process.hrtime.bigint());
    },
    afterCall: (step) => {
      Atomics.store(busy, 0, 0n);
      inCall = false;
      if (step) {
        started = true;
        if (step.lastEventId !== null) lastEventId = step.lastEventId;
      }
      flush();
    },
  });
  post({ type: 'done', stop });
} catch (e) {
  if (e instanceof StreamOptionsError) post({ type: 'usage', message: e.message });
  else post({ type: 'failed', message: String(e?.message ?? e), started });
}
// Do not wait for idle keep-alive sockets: the run is over.
process.exit(0);
