// The whole stream client of host.mjs, in a worker thread: the component, the fetch loop and the
// JSON lines. The client is batched (a `BatchHandler`): each call's callbacks come from the
// component as one string of JSON lines, already the bytes autoconfig-host prints, and go to the
// main thread as they are, with that call's log lines (also batched), in one message. The main thread only supervises (host.mjs): it writes what this worker sends, and
// terminates and replaces it when a call into the component runs past --call-timeout.
//
// To the main thread, one-way:
//   {type: 'io', out, err, lastEventId}  stdout and stderr text, and the stream's last event id
//                                  when it changed (else null): one message per call at most
//   {type: 'done', stop}           the run ended: stop = 'invalid-key', or null after 'shutdown'
//   {type: 'usage', message}       the options were refused (exit 2)
//   {type: 'failed', message, started}  a trap or another error; `started`: start() had succeeded
// From the main thread: {type: 'shutdown'}.
// `shared` (16 bytes): a BigInt64 `busy`, when the current component call began, on the
// monotonic clock of process.hrtime.bigint() (the same for every thread), 0 between calls; then
// an Int32 `calls`, raised and notified after `busy` is set as each call begins: the main
// thread's watchdog waits on it while idle, and reads `busy`.
import { parentPort, workerData } from 'node:worker_threads';

import { Component, LOG_LINE_LEVELS, StreamClient, StreamOptionsError, streamOptions } from './autoconfig.mjs';
import { HOST_LEVELS, createLogger, nodeFetch, runStream } from './stream-runner.mjs';

const { outDir, settings, options, userAgent, logLevel } = workerData;
const busy = new BigInt64Array(workerData.shared, 0, 1);
const calls = new Int32Array(workerData.shared, 8, 1);

let out = ''; // JSON lines, each ending with a newline
let err = '';
let lastEventId = null; // changed by the last call, not yet sent
let inCall = false; // output made during a component call is sent in one message after it
const minLevel = HOST_LEVELS.indexOf(logLevel);
const log = createLogger(logLevel, (line) => {
  err += line;
  if (!inCall) flush();
});
function flush() {
  if (out === '' && err === '' && lastEventId === null) return;
  parentPort.postMessage({ type: 'io', out, err, lastEventId });
  out = '';
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
// The main thread compiles the core modules while this worker starts (host.mjs) and posts them:
// {type: 'modules', modules} (a Map, or null when it could not: then they are compiled here).
let shutdownEarly = false;
const coreModules = await new Promise((resolveModules) => {
  const onMessage = (m) => {
    if (m?.type === 'shutdown') {
      shutdownEarly = true;
      resolveModules(null);
    } else if (m?.type === 'modules') {
      parentPort.off('message', onMessage);
      resolveModules(m.modules instanceof Map ? m.modules : null);
    }
  };
  parentPort.on('message', onMessage);
});
if (shutdownEarly) {
  post({ type: 'done', stop: null });
  process.exit(0);
}
try {
  const component = await Component.load(outDir, coreModules ? { coreModules } : {});
  client = new StreamClient(
    component,
    {
      batch: (lines) => {
        out += lines;
      },
      logs: (lines) => {
        // The lines of one call: one timestamp for all (createLogger's format).
        const stamp = new Date().toISOString();
        let text = '';
        for (const line of lines.split('\n')) {
          if (line === '') continue;
          const space = line.indexOf(' ');
          let level = space === -1 ? line : line.slice(0, space);
          let message = space === -1 ? '' : line.slice(space + 1);
          if (!LOG_LINE_LEVELS.includes(level)) {
            // Not the component's format: shown, bounded, rather than dropped or fatal.
            [level, message] = ['warn', `unexpected log line: ${JSON.stringify(line.slice(0, 200))}`];
          }
          if (HOST_LEVELS.indexOf(level) >= minLevel) text += `${stamp} ${level.toUpperCase().padEnd(5)} autoconfig: ${message}\n`;
        }
        err += text;
      },
      log: (level, message) => log(level, `autoconfig: ${message}`),
    },
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
    fetch: nodeFetch, // node:http: no timer ticking while the stream is open
    beforeCall: () => {
      inCall = true;
      Atomics.store(busy, 0, process.hrtime.bigint());
      // Wakes the main thread's watchdog if it waits for a call to begin (it then times this one).
      Atomics.add(calls, 0, 1);
      Atomics.notify(calls, 0);
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
