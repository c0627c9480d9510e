#!/usr/bin/env node
// BENCHMARK BASELINE, NOT THE PRODUCT: a plain single-file JavaScript auto-configuration client.
//
// This is the "what if we just wrote it in JavaScript" reference that bench/run.py measures the
// real hosts against (docs/benchmarks.md). Node.js standard library only (node:http/https,
// JSON.parse), no WebAssembly. It does the common path of the same job as `autoconfig-host`:
// connect to `{stream-uri}/relay_auto_config` with the key in `Authorization`, parse SSE (LF, CRLF
// or CR line ends, split anywhere, a BOM, comments, multi-line `data`), decode put/patch/delete
// with JSON.parse, keep versions and tombstones per docs/rules.md Rules 1-4, decide the expiring
// key's params per Rule 7, and print the same JSON lines as `autoconfig-host` on stdout (one write
// per line; adds/updates by ascending id, then deletes, then {"op":"ready"} after each put). At
// --log-level info (the default, as the hosts) it logs the same kind of line per change on stderr,
// so the comparison with the hosts is like for like.
//
// What it skips, on purpose (the hard parts the component does): Go decoding edge cases
// (case-insensitive field names, `null` keeping a field, merged repeated objects, -0, int64 range
// beyond 2^53, depth and size limits, byte-order sorting of non-ASCII ids), expiry timers and
// key-expired, the reconnect backoff policy (jitter, slow 401 curve, reset after 60 s), redirects,
// Last-Event-ID, read timeouts, TLS options, snapshots, state and tombstone limits, log rate limits
// and key masking. Do not use it as a client.
//
//   node bench/baseline_plain.mjs [--key KEY] [--stream-uri URI] [--log-level LEVEL]
//
// Environment: AUTO_CONFIG_KEY, STREAM_URI. Exit codes: 0 on SIGINT/SIGTERM, 1 on 401/403 at the
// first connection, 2 on bad usage.
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

const LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, none: 5 };

class Malformed extends Error {}

// ---- output ----

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n'); // synchronous on pipes and files (Linux)
}

let minLevel = LEVELS.info;
function log(level, message) {
  if (LEVELS[level] >= minLevel) {
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padStart(5)} ${message}\n`);
  }
}

// ---- decoding (Go's encoding/json semantics only as far as valid data needs) ----

function str(obj, name) {
  const v = obj[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Malformed(`${name} is not a string`);
  return v;
}

function int(obj, name) {
  const v = obj[name];
  if (v === undefined || v === null) return 0;
  if (!Number.isInteger(v)) throw new Malformed(`${name} is not an integer`);
  return v;
}

/** ENV -> a plain record of the fields the client keeps. */
function decodeEnv(v) {
  if (v === undefined || v === null) v = {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Malformed('an environment is not an object');
  const sdk = v.sdkKey ?? {};
  if (typeof sdk !== 'object' || Array.isArray(sdk)) throw new Malformed('sdkKey is not an object');
  const exp = sdk.expiring ?? {};
  if (typeof exp !== 'object' || Array.isArray(exp)) throw new Malformed('expiring is not an object');
  const ts = int(exp, 'timestamp');
  if (ts < 0) throw new Malformed('timestamp is negative');
  const secure = v.secureMode ?? false;
  if (typeof secure !== 'boolean') throw new Malformed('secureMode is not a bool');
  return {
    envId: str(v, 'envId'), envKey: str(v, 'envKey'), envName: str(v, 'envName'), mobKey: str(v, 'mobKey'),
    projKey: str(v, 'projKey'), projName: str(v, 'projName'), sdkKey: str(sdk, 'value'),
    expKey: str(exp, 'value'), expTs: ts, defaultTtl: int(v, 'defaultTtl'), secureMode: secure, version: int(v, 'version'),
  };
}

const sameEnv = (a, b) =>
  a.envId === b.envId && a.envKey === b.envKey && a.envName === b.envName && a.mobKey === b.mobKey &&
  a.projKey === b.projKey && a.projName === b.projName && a.sdkKey === b.sdkKey && a.expKey === b.expKey &&
  a.expTs === b.expTs && a.defaultTtl === b.defaultTtl && a.secureMode === b.secureMode && a.version === b.version;

function parse(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (e) {
    throw new Malformed(e.message);
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new Malformed('not an object');
  return msg;
}

function pathOf(msg) {
  const path = msg.path ?? '';
  if (typeof path !== 'string') throw new Malformed('path is not a string');
  return path;
}

function envIdFromPath(path) {
  if (!path.startsWith('/environments/')) return null;
  const id = path.slice('/environments/'.length);
  return id && !id.includes('/') ? id : null;
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- the state machine (Rules 1-4, and Rule 7's params without timers) ----

const live = new Map(); // id -> decoded env as last accepted
const tombs = new Map(); // id -> deleted at version

function params(e, nowMs) {
  let expiring = null;
  if (e.expKey && e.expKey !== e.sdkKey) {
    if (e.expTs === 0) expiring = { key: e.expKey, expiresAt: null };
    else if (e.expTs > nowMs) expiring = { key: e.expKey, expiresAt: e.expTs };
  }
  return {
    envId: e.envId, envKey: e.envKey, envName: e.envName, projectKey: e.projKey, projectName: e.projName,
    sdkKey: e.sdkKey, mobileKey: e.mobKey, expiringSdkKey: expiring, defaultTtlMinutes: e.defaultTtl,
    secureMode: e.secureMode, version: e.version,
  };
}

function upsert(e, nowMs) {
  const names = `(${e.projName} ${e.envName})`;
  const stored = live.get(e.envId);
  let op;
  if (stored !== undefined) {
    if (stored.version >= e.version) {
      log('info', `Ignoring out-of-order update for environment ${e.envId} (${stored.projName} ${stored.envName})`);
      return;
    }
    op = 'update';
    log('info', `Properties have changed for environment ${e.envId} ${names}`);
  } else {
    const tomb = tombs.get(e.envId);
    if (tomb !== undefined) {
      if (tomb >= e.version) {
        log('info', `Ignoring out-of-order update for environment ${e.envId} (deleted at version ${tomb})`);
        return;
      }
      tombs.delete(e.envId);
    }
    op = 'add';
    log('info', `Added environment ${e.envId} ${names}`);
  }
  live.set(e.envId, e);
  const p = params(e, nowMs);
  const exp = p.expiringSdkKey;
  if (exp !== null && exp.expiresAt !== null) {
    const when = new Date(exp.expiresAt).toISOString();
    log('warn', `Old SDK key ending in ${exp.key.slice(-4)} for environment ${e.envId} ${names} will expire at ${when}`);
  }
  emit({ op, env: p });
}

function put(data, nowMs) {
  const msg = parse(data);
  const path = pathOf(msg);
  if (!isObject(msg.data)) throw new Malformed('data is missing or not an object');
  const envs = msg.data.environments;
  if (!isObject(envs)) throw new Malformed('environments is missing or not an object');
  const decoded = new Map();
  for (const key of Object.keys(envs)) decoded.set(key, decodeEnv(envs[key])); // the whole message first
  if (path !== '/') {
    log('info', `Ignoring "put" event for unknown path ${JSON.stringify(path)}`);
    return;
  }
  log('info', `Received configuration for ${decoded.size} environment(s)`);
  const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  for (const key of [...decoded.keys()].sort(byId)) {
    const e = decoded.get(key);
    if (e.envId !== key) {
      log('warn', `Ignoring environment data whose envId "${e.envId}" did not match key "${key}"`);
      continue;
    }
    const stored = live.get(key);
    if (stored === undefined || !sameEnv(stored, e)) upsert(e, nowMs);
  }
  for (const id of [...live.keys()].filter((i) => !decoded.has(i)).sort(byId)) {
    const e = live.get(id);
    live.delete(id);
    log('info', `Removed environment ${id} (${e.projName} ${e.envName})`);
    emit({ op: 'delete', envId: id });
  }
  for (const id of [...tombs.keys()]) if (!decoded.has(id)) tombs.delete(id);
  emit({ op: 'ready' });
}

function patch(data, nowMs) {
  const msg = parse(data);
  const path = pathOf(msg);
  const id = envIdFromPath(path);
  if (id === null) {
    log('info', `Ignoring "patch" event for unknown path ${JSON.stringify(path)}`);
    return;
  }
  const e = decodeEnv(msg.data);
  if (e.envId !== id) {
    log('warn', `Ignoring environment data whose envId "${e.envId}" did not match key "${id}"`);
    return;
  }
  upsert(e, nowMs);
}

function del(data) {
  const msg = parse(data);
  const path = pathOf(msg);
  const version = int(msg, 'version');
  const id = envIdFromPath(path);
  if (id === null) {
    log('info', `Ignoring "delete" event for unknown path ${JSON.stringify(path)}`);
    return;
  }
  const stored = live.get(id);
  if (stored !== undefined) {
    if (version <= stored.version) {
      log('info', `Ignoring out-of-order delete for environment ${id} (${stored.projName} ${stored.envName})`);
      return;
    }
    live.delete(id);
    tombs.set(id, version);
    log('info', `Removed environment ${id} (${stored.projName} ${stored.envName})`);
    emit({ op: 'delete', envId: id });
  } else {
    const tomb = tombs.get(id);
    tombs.set(id, tomb === undefined ? version : Math.max(tomb, version));
  }
}

/** One SSE event; returns a restart delay in ms, or null to keep reading. */
function onEvent(name, data) {
  const nowMs = Date.now();
  if (name === 'put') put(data, nowMs);
  else if (name === 'patch') patch(data, nowMs);
  else if (name === 'delete') del(data);
  else if (name === 'reconnect') {
    log('info', 'Will restart auto-configuration stream to get new data due to a policy change');
    return 1000;
  } else log('warn', `Ignoring unrecognized stream event: ${JSON.stringify(name)}`);
  return null;
}

// ---- SSE (WHATWG: LF/CRLF/CR, BOM, comments, multi-line data) ----

class Sse {
  constructor(onEventFn) {
    this.onEvent = onEventFn;
    this.pending = []; // Buffers of an unfinished line
    this.skipLf = false; // the last chunk ended in CR: a LF starting the next one is its pair
    this.start = true; // a BOM may come first
    this.event = '';
    this.data = [];
  }

  /** Feeds one chunk; returns a restart delay (ms) or null. */
  feed(chunk) {
    if (this.skipLf && chunk.length > 0 && chunk[0] === 0x0a) chunk = chunk.subarray(1);
    this.skipLf = false;
    const hasCr = chunk.indexOf(0x0d) >= 0;
    if (!hasCr && chunk.indexOf(0x0a) < 0) {
      if (chunk.length > 0) this.pending.push(chunk);
      return null;
    }
    if (this.pending.length > 0) {
      this.pending.push(chunk);
      chunk = Buffer.concat(this.pending);
      this.pending = [];
    }
    if (this.start) {
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      this.start = false;
    }
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      let end = chunk.indexOf(0x0a, pos);
      if (hasCr) {
        const cr = chunk.indexOf(0x0d, pos);
        if (cr >= 0 && (end < 0 || cr < end)) end = cr;
      }
      if (end < 0) break;
      const line = chunk.toString('utf8', pos, end);
      if (chunk[end] === 0x0d) {
        if (end + 1 === n) this.skipLf = true;
        else if (chunk[end + 1] === 0x0a) end++;
      }
      pos = end + 1;
      const restart = this.line(line);
      if (restart !== null) return restart;
    }
    if (pos < n) this.pending.push(chunk.subarray(pos));
    return null;
  }

  line(line) {
    if (line.length === 0) {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const data = this.data.join('\n');
      const name = this.event;
      this.event = '';
      this.data = [];
      return this.onEvent(name, data);
    }
    if (line.charCodeAt(0) === 0x3a) return null; // a comment (heartbeat)
    const colon = line.indexOf(':');
    let name = line;
    let value = '';
    if (colon >= 0) {
      name = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    }
    if (name === 'data') this.data.push(value);
    else if (name === 'event') this.event = value;
    // `id` and `retry` are not used by this baseline
    return null;
  }
}

// ---- the connection loop ----

function connectOnce(url, key) {
  // Resolves when the connection ends: {status, restartMs} (restartMs: a `reconnect` event's wait).
  return new Promise((resolve) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, { headers: { Authorization: key, Accept: 'text/event-stream', 'User-Agent': 'baseline-plain-js' } }, (res) => {
      const ctype = String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (res.statusCode !== 200 || ctype !== 'text/event-stream') {
        res.resume();
        resolve({ status: res.statusCode, restartMs: null });
        return;
      }
      log('info', 'Connected to auto-configuration stream');
      const sse = new Sse(onEvent);
      let done = false;
      const finish = (r) => {
        if (done) return;
        done = true;
        req.destroy();
        resolve(r);
      };
      res.on('data', (chunk) => {
        if (done) return;
        try {
          const restart = sse.feed(chunk);
          if (restart !== null) finish({ status: 200, restartMs: restart });
        } catch (e) {
          if (!(e instanceof Malformed)) throw e;
          log('error', `Received streaming event with malformed JSON data (${e.message}); will restart stream`);
          finish({ status: 200, restartMs: null });
        }
      });
      res.on('end', () => finish({ status: 200, restartMs: null }));
      res.on('error', () => finish({ status: 200, restartMs: null }));
    });
    req.setTimeout(300_000, () => req.destroy(new Error('read timeout')));
    req.on('error', (e) => {
      log('warn', `Unexpected error on auto-configuration stream: ${e.message}`);
      resolve({ status: 0, restartMs: null });
    });
  });
}

async function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: { key: { type: 'string' }, 'stream-uri': { type: 'string' }, 'log-level': { type: 'string', default: 'info' } },
    }));
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(2);
  }
  const key = args.key ?? process.env.AUTO_CONFIG_KEY;
  if (!key) {
    process.stderr.write('error: no key: give --key or set AUTO_CONFIG_KEY\n');
    process.exit(2);
  }
  if (!(args['log-level'] in LEVELS)) {
    process.stderr.write(`error: --log-level: one of ${Object.keys(LEVELS).join(', ')}\n`);
    process.exit(2);
  }
  minLevel = LEVELS[args['log-level']];
  const streamUri = args['stream-uri'] ?? process.env.STREAM_URI ?? 'https://stream.launchdarkly.com';
  const url = new URL(streamUri.replace(/\/$/, '') + '/relay_auto_config');
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
  let delayMs = 1000;
  let everConnected = false;
  for (;;) {
    log('info', `Connecting to auto-configuration stream at ${streamUri}`);
    const { status, restartMs } = await connectOnce(url, key);
    if ((status === 401 || status === 403) && !everConnected) {
      log('error', 'invalid auto-configuration key');
      process.exit(1);
    }
    if (status === 200) {
      everConnected = true;
    }
    await new Promise((r) => setTimeout(r, restartMs ?? delayMs));
    delayMs = status === 200 && restartMs !== null ? 1000 : Math.min(delayMs * 2, 30_000);
  }
}

main();
