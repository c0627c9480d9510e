#!/usr/bin/env node
// A small but real auto-configuration host in Node.js around the relay-autoconfig component.
//
//   node host.mjs [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR] [--read-timeout DUR]
//                 [--call-timeout DUR] [--component OUT_DIR] [--log-level LEVEL]
//
// It connects to `{STREAM_URI}/relay_auto_config` with Node's fetch (streaming body), parses the
// SSE stream, feeds every event to the component, sleeps until the component's next deadline to
// call `tick`, restarts the stream when the component says so, and prints every handler callback
// on stdout as one JSON line (the same lines as autoconfig-host). Logs go to stderr.
//
// Environment: AUTO_CONFIG_KEY, STREAM_URI (default https://stream.launchdarkly.com), LOG_LEVEL.
// Exit codes: 0 on SIGINT/SIGTERM, 1 when the key is rejected (401/403) at the first connection,
// 2 on bad usage.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_OUT_DIR, jsonLinesHandler, TrapError } from './lib/autoconfig.mjs';
import { Backoff } from './lib/backoff.mjs';
import { GuardedClient } from './lib/guarded.mjs';
import { SseParser } from './lib/sse.mjs';

const VERSION = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).version;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

function usage(message) {
  process.stderr.write(`error: ${message}\nusage: node host.mjs [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR] [--read-timeout DUR] [--call-timeout DUR] [--component OUT_DIR] [--log-level LEVEL]\n`);
  process.exit(2);
}

/** "500ms", "2s", "5m", "1h" -> milliseconds. */
function duration(text, name) {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(text ?? '');
  if (!m) usage(`${name}: expected a duration like 500ms, 2s or 5m, got ${JSON.stringify(text)}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
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
const streamUri = (args['stream-uri'] ?? process.env.STREAM_URI ?? 'https://stream.launchdarkly.com').replace(/\/$/, '');
let url;
try {
  url = new URL(`${streamUri}/relay_auto_config`);
} catch {
  usage(`--stream-uri: not a URL: ${streamUri}`);
}
const logLevel = args['log-level'] ?? process.env.LOG_LEVEL ?? 'info';
if (!LEVELS.includes(logLevel)) usage(`--log-level: one of ${LEVELS.join(', ')}`);
const initialRetryMs = duration(args['initial-retry-delay'], '--initial-retry-delay');
const readTimeoutMs = duration(args['read-timeout'], '--read-timeout');
const callTimeoutMs = duration(args['call-timeout'], '--call-timeout');
const outDir = resolve(args.component ?? DEFAULT_OUT_DIR);

const masked = key.length > 4 ? `...${key.slice(-4)}` : '****';
function log(level, message) {
  const l = level === 'critical' ? 'error' : level;
  if (LEVELS.indexOf(l) < LEVELS.indexOf(logLevel)) return;
  process.stderr.write(`${new Date().toISOString()} ${l.toUpperCase().padEnd(5)} ${message}\n`);
}

// stdout: one JSON line per callback, written at once (synchronous for files and pipes).
const handler = jsonLinesHandler(
  (line) => process.stdout.write(line + '\n'),
  (level, message) => log(level, `autoconfig: ${message}`),
);
const client = new GuardedClient(handler, { outDir, callTimeoutMs });

// ---- timers: sleep until the component's next deadline, no polling ----
const MAX_TIMEOUT = 2 ** 31 - 1;
let tickTimer = null;
function schedule(deadline) {
  if (tickTimer) clearTimeout(tickTimer);
  tickTimer = null;
  if (deadline === null || deadline === undefined || stopping) return;
  const wait = Math.max(0, Number(deadline) - Date.now());
  // setTimeout holds at most ~24.8 days; a longer wait just re-arms at that point.
  tickTimer = setTimeout(
    wait > MAX_TIMEOUT ? () => schedule(deadline) : onTimer,
    Math.min(wait, MAX_TIMEOUT),
  );
}
async function onTimer() {
  tickTimer = null;
  try {
    schedule(await client.tick(Date.now()));
  } catch (e) {
    log('error', `tick failed: ${e.message}; restarting the stream`);
    restartNow?.('trap');
  }
}

// ---- shutdown ----
let stopping = false;
let current = null; // AbortController of the open connection
let wakeUp = null; // resolves a pending backoff sleep
let restartNow = null;
let everConnected = false; // a 401/403 before the first 200 means a bad key: exit 1
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log('info', `${signal}: shutting down`);
  if (tickTimer) clearTimeout(tickTimer);
  current?.abort(new Error('shutdown'));
  wakeUp?.();
  await client.close();
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

function sleep(ms) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    wakeUp = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

/** One connection: resolves with why it ended ('eof', 'error', 'timeout', a restart reason). */
async function connectOnce(parser, backoff) {
  const controller = new AbortController();
  current = controller;
  const headers = {
    Authorization: key,
    Accept: 'text/event-stream',
    'Cache-Control': 'no-cache',
    'User-Agent': `relay-autoconfig-node/${VERSION}`,
  };
  if (parser.lastEventId) headers['Last-Event-ID'] = parser.lastEventId;
  let res;
  try {
    log('info', `connecting to ${url.href} with key ${masked}`);
    // No redirects: the key must never be sent on to another host.
    res = await fetch(url, { headers, signal: controller.signal, redirect: 'manual' });
  } catch (e) {
    if (stopping) return { end: 'stopped' };
    log('warn', `connection failed: ${e.cause?.message ?? e.message}`);
    return { end: 'error' };
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    return { end: 'status', status: res.status };
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.trim().toLowerCase().startsWith('text/event-stream')) {
    await res.body?.cancel().catch(() => {});
    log('warn', `content type ${JSON.stringify(contentType)} is not text/event-stream`);
    return { end: 'error' };
  }
  log('info', 'connected');
  everConnected = true;
  backoff.connected(Date.now());
  backoff.useSlowCurve(false);
  parser.resetConnection();
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let readTimer;
  const armReadTimeout = () => {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => controller.abort(new Error('read timeout')), readTimeoutMs);
  };
  let restart = null;
  restartNow = (why) => {
    restart = why;
    controller.abort(new Error(why));
  };
  armReadTimeout();
  try {
    for await (const chunk of res.body) {
      armReadTimeout();
      for (const item of parser.push(decoder.decode(chunk, { stream: true }))) {
        if (item.type === 'retry') {
          backoff.setBase(item.ms);
        } else if (item.type === 'oversized') {
          log('error', `"${item.event}" event over the size limit; will restart stream`);
          restart = 'malformed-data';
        } else if (item.type === 'event') {
          let d;
          try {
            d = await client.onEvent(item.event, item.data, Date.now());
          } catch (e) {
            if (!(e instanceof TrapError)) throw e;
            log('error', `the component failed (${e.message}); its state is lost, restarting the stream`);
            restart = 'trap';
            break;
          }
          schedule(d.nextDeadline);
          if (d.restart) restart = d.restart;
        }
        if (restart) break;
      }
      if (restart) break;
    }
  } catch (e) {
    if (stopping) return { end: 'stopped' };
    if (!restart) {
      const why = controller.signal.reason?.message ?? e.message;
      log('warn', `stream error: ${why}`);
      return { end: why === 'read timeout' ? 'timeout' : 'error' };
    }
  } finally {
    clearTimeout(readTimer);
    restartNow = null;
    controller.abort(new Error('done'));
  }
  if (restart) return { end: restart };
  log('warn', 'the stream ended');
  return { end: 'eof' };
}

async function main() {
  const backoff = new Backoff({ initialMs: initialRetryMs });
  const parser = new SseParser();
  while (!stopping) {
    const { end, status } = await connectOnce(parser, backoff);
    if (stopping) break;
    if (end === 'status') {
      if (status === 401 || status === 403) {
        if (!everConnected) {
          log('error', `invalid auto-configuration key (HTTP ${status})`);
          await client.close();
          process.exit(1);
        }
        log('error', `auto-configuration key rejected (HTTP ${status}); keeping the last known state, retrying slowly`);
        backoff.useSlowCurve(true);
      } else {
        log('warn', `unexpected HTTP status ${status}`);
      }
    }
    let delay;
    if (end === 'reconnect-requested') {
      // The server asked for it: reconnect promptly, without counting it as a failure.
      backoff.reset();
      delay = backoff.nextDelay(Date.now());
      backoff.reset();
      log('info', 'the server requested a reconnect');
    } else {
      delay = backoff.nextDelay(Date.now());
      if (end === 'malformed-data') log('warn', 'malformed data; restarting the stream with backoff');
    }
    log('info', `reconnecting in ${Math.round(delay)} ms`);
    await sleep(delay);
  }
}

main().catch((e) => {
  log('error', `fatal: ${e.stack ?? e}`);
  process.exit(1);
});
