#!/usr/bin/env node
// A small but real auto-configuration host in Node.js around the relay-autoconfig component.
//
//   node host.mjs [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR] [--read-timeout DUR]
//                 [--call-timeout DUR] [--component OUT_DIR] [--log-level LEVEL]
//
// The component's stream client decides everything (SSE, backoff, redirects, statuses, timeouts);
// lib/stream-runner.mjs only does its I/O with fetch. Both run in a worker thread
// (lib/host-worker.mjs), which prints every handler callback as one JSON line on stdout (the same
// lines as autoconfig-host) and logs on stderr. This main thread only supervises: a component
// call that runs longer than --call-timeout gets the worker terminated and replaced (empty state,
// `priorFailures` raised by one, so the new one waits as the backoff would before connecting, and
// the last event id seen, so the stream resumes there).
//
// Environment: AUTO_CONFIG_KEY, STREAM_URI (default https://stream.launchdarkly.com), LOG_LEVEL.
// Exit codes: 0 on SIGINT/SIGTERM, 1 when the key is refused (401/403) at the first connection,
// 2 on bad usage, 3 when the component cannot even start or stdout is closed (the reader went
// away), as for autoconfig-host.

import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { Component, DEFAULT_OUT_DIR, randomSeed } from './lib/autoconfig.mjs';
import { parseDuration } from './lib/duration.mjs';
import { HOST_LEVELS, createLogger } from './lib/stream-runner.mjs';

const VERSION = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).version;
const USAGE =
  'usage: node host.mjs [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR] [--read-timeout DUR] ' +
  '[--call-timeout DUR] [--component OUT_DIR] [--log-level LEVEL]';

function usage(message) {
  process.stderr.write(`error: ${String(message).split('\n')[0]}\n${USAGE}\n`);
  process.exit(2);
}

/** A Go-style duration ("500ms", "1.5s", "1m30s") -> milliseconds; bad usage otherwise. */
function duration(text, name) {
  try {
    return parseDuration(text);
  } catch (e) {
    return usage(`${name}: ${e.message}`);
  }
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      key: { type: 'string' },
      'stream-uri': { type: 'string' },
      'initial-retry-delay': { type: 'string', default: '1s' },
      'read-timeout': { type: 'string', default: '5m' },
      'call-timeout': { type: 'string', default: '60s' },
      component: { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}

const key = args.key ?? process.env.AUTO_CONFIG_KEY;
if (!key) usage('no key: give --key or set AUTO_CONFIG_KEY');
const logLevel = args['log-level'] ?? process.env.LOG_LEVEL ?? 'info';
if (!HOST_LEVELS.includes(logLevel)) usage(`--log-level: one of ${HOST_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
const options = {
  key,
  streamUri: args['stream-uri'] ?? process.env.STREAM_URI ?? 'https://stream.launchdarkly.com',
  initialRetryDelayMs: duration(args['initial-retry-delay'], '--initial-retry-delay'),
  readTimeoutMs: duration(args['read-timeout'], '--read-timeout'),
};
const callTimeoutMs = duration(args['call-timeout'], '--call-timeout');
if (callTimeoutMs < 1) usage(`--call-timeout: ${JSON.stringify(args['call-timeout'])} is shorter than 1ms`);
const outDir = resolve(args.component ?? DEFAULT_OUT_DIR);
if (!existsSync(resolve(outDir, 'relay_autoconfig.js'))) {
  usage(`--component: no transpiled component in ${outDir} (run \`npm run transpile\`)`);
}

// The component's core modules are compiled once, here, while the first worker starts, and posted
// to every worker (V8 shares the compiled code). Optimised in full ahead of time: by default V8
// compiles each wasm function on its first call with its baseline compiler (Liftoff) and
// optimises the hot ones later, during the first events, which made a put of 10,000
// environments about twice as slow as with optimised code. Process-wide V8 flags, so they are
// set by this program, not by the library.
const WASM_FLAGS = process.env.RELAY_AUTOCONFIG_WASM_FLAGS ?? '--no-liftoff --no-wasm-lazy-compilation';
for (const flag of WASM_FLAGS.split(' ').filter(Boolean)) v8.setFlagsFromString(flag);
const coreModules = Component.compileCoreModules(outDir).catch(() => null);

const log = createLogger(logLevel, (line) => process.stderr.write(line));
// A reader that went away (EPIPE) or a failing stdout: one line and exit 3, never an unhandled
// 'error' event (a stack trace and exit 1, the code of a refused key).
process.stdout.on('error', (e) => {
  if (ended) return;
  log('error', `cannot write to stdout (${e?.code ?? e?.message ?? e}): exiting`);
  ended = true;
  if (worker) unwatch(worker.w);
  worker?.w.terminate();
  worker = null;
  process.exitCode = 3;
  process.stderr.write('', () => process.exit(3));
});
let worker = null;
let failures = 0; // workers replaced so far: the next one's priorFailures
let lastEventId = null; // the stream's latest event id: the next one's lastEventId
let stopping = false;
let ended = false;

function spawnWorker() {
  // Shared with the worker: when its current component call began (see the watchdog below), and
  // a counter it raises (and notifies) as each call begins.
  const shared = new SharedArrayBuffer(16);
  const busy = new BigInt64Array(shared, 0, 1);
  const calls = new Int32Array(shared, 8, 1);
  const w = new Worker(new URL('./lib/host-worker.mjs', import.meta.url), {
    workerData: {
      outDir,
      settings: { logLevel },
      options: { ...options, jitterSeed: randomSeed(), priorFailures: failures, lastEventId },
      userAgent: `relay-autoconfig-node/${VERSION}`,
      logLevel,
      shared,
    },
  });
  worker = { w, busy, calls, timer: null };
  watched.set(w, worker);
  watch(worker);
  coreModules.then((modules) => w.postMessage({ type: 'modules', modules }));
  w.on('message', (m) => onMessage(w, m));
  w.on('error', (e) => gone(w, `the component worker failed: ${e.message}`));
  w.on('exit', (code) => gone(w, `the component worker exited (${code})`));
}

const watched = new WeakMap(); // worker -> its watchdog record
const replaced = new WeakSet(); // workers dropped after a `reset` line: their late lines are stale

function onMessage(w, m) {
  if (m.type === 'io') {
    if (m.err) process.stderr.write(m.err);
    if (m.out && !replaced.has(w)) process.stdout.write(m.out);
    if (m.lastEventId !== null) lastEventId = m.lastEventId;
    return;
  }
  if (worker?.w !== w) return;
  worker = null;
  if (m.type === 'done') {
    if (m.stop === 'invalid-key') {
      log('error', 'invalid auto-configuration key: the first connection was refused (HTTP 401/403)');
      end(1);
    } else end(0);
  } else if (m.type === 'usage') {
    usage(m.message);
  } else if (m.type === 'failed' && !m.started) {
    log('error', `the component cannot start: ${m.message}`);
    end(3);
  } else replace(w, m.message);
}

function gone(w, why) {
  if (worker?.w !== w) return;
  worker = null;
  if (stopping) end(0);
  else replace(w, why);
}

/**
 * Drops a failed worker and its state, tells the proxy (`{"op":"reset"}`, as autoconfig-host
 * prints when a component's state is lost: reconcile at the next `ready`) and starts a fresh one.
 */
function replace(w, why) {
  w.terminate();
  unwatch(w);
  if (stopping) return end(0);
  failures++;
  log('error', `${why}; replacing the component (failure ${failures}): its state is lost until the next put`);
  replaced.add(w);
  process.stdout.write('{"op":"reset"}\n');
  spawnWorker();
}

// The watchdog reads when the worker's current component call began (`busy`, 0: none running),
// on the monotonic clock, so that a wall-clock step cannot fake a runaway call. It never polls:
// while the worker is idle it waits (Atomics.waitAsync, no timer) for the worker to begin a call;
// then it sleeps until that call would be over time, and looks again: a call still running past
// --call-timeout gets the worker replaced; another call gets the wait re-armed for it; none, and
// it waits for the next call again. So an idle host wakes for nothing, and a busy one at most
// once per --call-timeout.
const callTimeoutNs = BigInt(callTimeoutMs) * 1_000_000n;
function watch(wk) {
  wk.timer = null;
  if (worker !== wk || ended) return;
  for (;;) {
    // The worker sets `busy`, then raises `calls`. Read in the other order here: if `seen` already
    // counts a call, `busy` shows it (unless it is over); if not, raising `calls` ends the wait.
    const seen = Atomics.load(wk.calls, 0);
    const since = Atomics.load(wk.busy, 0);
    if (since !== 0n) {
      const running = process.hrtime.bigint() - since;
      if (running > callTimeoutNs) {
        worker = null;
        replace(wk.w, `a component call ran longer than ${callTimeoutMs} ms`);
        return;
      }
      wk.timer = setTimeout(() => watch(wk), Number((callTimeoutNs - running) / 1_000_000n) + 1);
      return;
    }
    // Idle: wait for the next call to begin (at once if one began since `seen` was read).
    const waiting = Atomics.waitAsync(wk.calls, 0, seen);
    if (waiting.async) {
      waiting.value.then(() => watch(wk));
      return;
    }
  }
}
/** Stops watching worker `w`: its timer, and its pending wait (woken, it finds `w` gone). */
function unwatch(w) {
  const wk = worker?.w === w ? worker : watched.get(w);
  if (!wk) return;
  clearTimeout(wk.timer);
  Atomics.notify(wk.calls, 0);
}

/** Exits once what was written to stdout and stderr is out. */
function end(code) {
  if (ended) return;
  ended = true;
  if (worker) unwatch(worker.w);
  worker?.w.terminate();
  worker = null;
  process.exitCode = code;
  process.stderr.write('', () => process.stdout.write('', () => process.exit(code)));
}

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log('info', `${signal}: shutting down`);
  if (!worker) return end(0);
  worker.w.postMessage({ type: 'shutdown' });
  // A worker stuck in a long call cannot answer: do not wait for it for long.
  setTimeout(() => end(0), 2000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

spawnWorker();
