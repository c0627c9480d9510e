// The shared stream corpus (tests/streams/*.json, format in tests/streams/README.md) run through
// the component's `stream-client` export: the Node counterpart of the Rust and Python runners,
// with the same strict decoding and the same checks (exact callbacks in their JSON-lines form,
// disconnect, the request to open, stop, next deadline, last event id, start errors, log fragments).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LOG_LEVELS, StreamClient, StreamOptionsError } from './autoconfig.mjs';
import { hasLoneSurrogate, parse } from './json-raw.mjs';
import { absent, corpusFiles, expectedLine, fields, int, modeHandler, string, u64 } from './scenario.mjs';

/** <repo>/tests/streams */
export const STREAMS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../tests/streams');

/** The case files of a directory, sorted by name. */
export const streamFiles = (dir = STREAMS_DIR) => corpusFiles(dir);

/** The options a case gets for every field it does not give (tests/streams/README.md). */
export const DEFAULT_OPTIONS = Object.freeze({
  key: 'rel-key-0001',
  streamUri: 'http://stream.test',
  initialRetryDelayMs: 1000n,
  readTimeoutMs: 300000n,
  jitterSeed: 1n,
  lastEventId: null,
  priorFailures: 0,
});

const KINDS = ['start', 'response', 'body', 'bodyHex', 'closed', 'timeout'];
const OPTION_FIELDS = Object.keys(DEFAULT_OPTIONS);

function options(node, where) {
  if (absent(node)) return { ...DEFAULT_OPTIONS };
  const f = fields(node, where, OPTION_FIELDS);
  const o = { ...DEFAULT_OPTIONS };
  if (f.has('key')) o.key = string(f.get('key'), `${where}.key`);
  if (f.has('streamUri')) o.streamUri = string(f.get('streamUri'), `${where}.streamUri`);
  for (const name of ['initialRetryDelayMs', 'readTimeoutMs', 'jitterSeed']) {
    const v = u64(f.get(name), `${where}.${name}`, false);
    if (v !== null) o[name] = v;
  }
  o.lastEventId = string(f.get('lastEventId'), `${where}.lastEventId`, false);
  const prior = int(f.get('priorFailures'), `${where}.priorFailures`, 0n, 0xffffffffn, false);
  if (prior !== null) o.priorFailures = Number(prior);
  return o;
}

function bool(node, where, fallback) {
  if (absent(node)) return fallback;
  if (node.kind !== 'boolean') throw new Error(`${where}: expected a boolean`);
  return node.value;
}

function request(node, where) {
  if (absent(node)) return null;
  const f = fields(node, where, ['url', 'headers']);
  const headers = f.get('headers');
  if (!headers || headers.kind !== 'array') throw new Error(`${where}.headers: expected an array of [name, value] pairs`);
  return {
    url: string(f.get('url'), `${where}.url`),
    headers: headers.value.map((pair, i) => {
      const w = `${where}.headers[${i}]`;
      if (pair.kind !== 'array' || pair.value.length !== 2) throw new Error(`${w}: expected a [name, value] pair`);
      return [string(pair.value[0], `${w}[0]`), string(pair.value[1], `${w}[1]`)];
    }),
  };
}

function expectation(node, where) {
  const x = absent(node)
    ? new Map()
    : fields(node, where, ['calls', 'disconnect', 'connect', 'stop', 'nextDeadline', 'lastEventId', 'error', 'logs']);
  const calls = x.get('calls');
  if (!absent(calls) && calls.kind !== 'array') throw new Error(`${where}.calls: expected an array`);
  const logs = x.get('logs');
  if (!absent(logs) && logs.kind !== 'array') throw new Error(`${where}.logs: expected an array`);
  const stop = string(x.get('stop'), `${where}.stop`, false);
  if (stop !== null && stop !== 'invalid-key') throw new Error(`${where}.stop: expected null or "invalid-key"`);
  return {
    calls: absent(calls) ? [] : calls.value.map((c, i) => expectedLine(c, `${where}.calls[${i}]`)),
    disconnect: bool(x.get('disconnect'), `${where}.disconnect`, false),
    connect: request(x.get('connect'), `${where}.connect`),
    stop,
    nextDeadline: u64(x.get('nextDeadline'), `${where}.nextDeadline`, false),
    lastEventId: string(x.get('lastEventId'), `${where}.lastEventId`, false),
    error: string(x.get('error'), `${where}.error`, false),
    logs: (absent(logs) ? [] : logs.value).map((l, i) => {
      const lw = `${where}.logs[${i}]`;
      const lf = fields(l, lw, ['level', 'contains']);
      const level = string(lf.get('level'), `${lw}.level`);
      if (!LOG_LEVELS.includes(level)) throw new Error(`${lw}.level: expected one of ${LOG_LEVELS.join(', ')}`);
      return { level, contains: string(lf.get('contains'), `${lw}.contains`) };
    }),
  };
}

function hexBytes(text, where) {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`${where}: expected pairs of hex digits`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

function step(node, where, caseOptions) {
  if (node.kind !== 'object') throw new Error(`${where}: expected an object`);
  const kinds = KINDS.filter((k) => node.value.has(k));
  if (kinds.length !== 1) throw new Error(`${where}: give exactly one of ${KINDS.join(', ')}`);
  const [kind] = kinds;
  const allowed = kind === 'start' ? ['start', 'options', 'expect'] : kind === 'timeout' ? ['timeout', 'expect'] : [kind, 'now', 'expect'];
  const f = fields(node, where, allowed);
  const now = () => u64(f.get('now'), `${where}.now`);
  let action;
  switch (kind) {
    case 'start':
      action = {
        kind,
        now: u64(f.get('start'), `${where}.start`),
        // A step's own options replace the case's; their missing fields take the defaults.
        options: f.has('options') ? options(f.get('options'), `${where}.options`) : caseOptions,
      };
      break;
    case 'timeout':
      action = { kind, now: u64(f.get('timeout'), `${where}.timeout`) };
      break;
    case 'response': {
      const r = fields(f.get('response'), `${where}.response`, ['status', 'contentType', 'location']);
      action = {
        kind,
        status: Number(int(r.get('status'), `${where}.response.status`, 0n, 0xffffn)),
        contentType: string(r.get('contentType'), `${where}.response.contentType`, false),
        location: string(r.get('location'), `${where}.response.location`, false),
        now: now(),
      };
      break;
    }
    case 'body': {
      const text = string(f.get('body'), `${where}.body`);
      if (hasLoneSurrogate(text)) throw new Error(`${where}.body: not valid Unicode (a lone surrogate); use bodyHex for raw bytes`);
      action = { kind, chunk: new TextEncoder().encode(text), now: now() };
      break;
    }
    case 'bodyHex':
      action = { kind, chunk: hexBytes(string(f.get('bodyHex'), `${where}.bodyHex`), `${where}.bodyHex`), now: now() };
      break;
    default:
      action = { kind, error: string(f.get('closed'), `${where}.closed`, false), now: now() };
  }
  const expect = expectation(f.get('expect'), `${where}.expect`);
  if (expect.error !== null && kind !== 'start') throw new Error(`${where}.expect.error: only a start step can expect an error`);
  return { action, expect };
}

/** Decodes a stream case file's text; throws an Error naming the first problem. */
export function decodeStreamCase(text) {
  const top = fields(parse(text), 'case', ['name', 'description', 'settings', 'options', 'steps']);
  const c = {
    name: string(top.get('name'), 'name'),
    description: string(top.get('description'), 'description', false) ?? '',
    maxMessageBytes: null,
    logLevel: 'debug',
    steps: [],
  };
  if (!absent(top.get('settings'))) {
    const s = fields(top.get('settings'), 'settings', ['maxMessageBytes', 'logLevel']);
    c.maxMessageBytes = u64(s.get('maxMessageBytes'), 'settings.maxMessageBytes', false);
    const level = string(s.get('logLevel'), 'settings.logLevel', false);
    if (level !== null) {
      if (!LOG_LEVELS.includes(level)) throw new Error(`settings.logLevel: expected one of ${LOG_LEVELS.join(', ')}`);
      c.logLevel = level;
    }
  }
  const caseOptions = options(top.get('options'), 'options');
  const steps = top.get('steps');
  if (!steps || steps.kind !== 'array') throw new Error('steps: expected an array');
  c.steps = steps.value.map((node, i) => step(node, `steps[${i}]`, caseOptions));
  return c;
}

/** Loads a stream case file. */
export function loadStreamCase(path) {
  try {
    return decodeStreamCase(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${e.message}`);
  }
}

function call(client, a) {
  switch (a.kind) {
    case 'start':
      return client.start(a.options, a.now);
    case 'response':
      return client.onResponse(a.status, a.contentType, a.location, a.now);
    case 'body':
    case 'bodyHex':
      return client.onBody(a.chunk, a.now);
    case 'closed':
      return client.onClosed(a.error, a.now);
    default:
      return client.onTimeout(a.now);
  }
}

const showRequest = (r) => (r === null ? 'null' : `${r.url} ${JSON.stringify(r.headers)}`);
const sameRequest = (a, b) =>
  a === b ||
  (a !== null && b !== null && a.url === b.url && a.headers.length === b.headers.length &&
    a.headers.every(([n, v], i) => n === b.headers[i][0] && v === b.headers[i][1]));

/**
 * Runs a case on a fresh instance of the component, per callback or batched (`mode`: one of
 * `MODES` of scenario.mjs). Returns every mismatch (empty: passed); throws on a trap or a
 * refused argument, as the Rust runner fails.
 * @param {import('./autoconfig.mjs').Component} component
 * @param {ReturnType<typeof decodeStreamCase>} c
 * @param {string} [mode]
 * @returns {string[]}
 */
export function runStreamCase(component, c, mode = 'callbacks') {
  const calls = [];
  const logs = [];
  const handler = modeHandler(mode, calls, logs);
  const settings = { logLevel: c.logLevel };
  if (c.maxMessageBytes !== null) settings.maxMessageBytes = c.maxMessageBytes;
  const client = new StreamClient(component, handler, settings);
  const errors = [];
  c.steps.forEach(({ action, expect }, index) => {
    calls.length = 0;
    logs.length = 0;
    handler.endCall();
    const where = `step ${index} (${action.kind})`;
    let got;
    try {
      got = call(client, action);
    } catch (e) {
      if (!(e instanceof StreamOptionsError)) throw new Error(`${where}: ${e.name}: ${e.message}`, { cause: e });
      got = e.message;
    }
    if (expect.error !== null || typeof got === 'string') {
      if (typeof got !== 'string') errors.push(`${where}: start succeeded, expected an error containing ${JSON.stringify(expect.error)}`);
      else if (expect.error === null) errors.push(`${where}: start failed: ${got}`);
      else if (!got.includes(expect.error)) errors.push(`${where}: start error ${JSON.stringify(got)} does not contain ${JSON.stringify(expect.error)}`);
      return;
    }
    if (calls.length !== expect.calls.length || calls.some((l, i) => l !== expect.calls[i])) {
      errors.push(`${where}: callbacks differ\n  expected: [${expect.calls.join(', ')}]\n  actual:   [${calls.join(', ')}]`);
    }
    if (got.disconnect !== expect.disconnect) errors.push(`${where}: disconnect ${got.disconnect}, expected ${expect.disconnect}`);
    if (!sameRequest(got.connect, expect.connect)) {
      errors.push(`${where}: connect differs\n  expected: ${showRequest(expect.connect)}\n  actual:   ${showRequest(got.connect)}`);
    }
    if (got.stop !== expect.stop) errors.push(`${where}: stop ${got.stop}, expected ${expect.stop}`);
    if (got.nextDeadline !== expect.nextDeadline) errors.push(`${where}: next deadline ${got.nextDeadline}, expected ${expect.nextDeadline}`);
    if (got.lastEventId !== expect.lastEventId) {
      errors.push(`${where}: last event id ${JSON.stringify(got.lastEventId)}, expected ${JSON.stringify(expect.lastEventId)}`);
    }
    for (const want of expect.logs) {
      if (!logs.some(([l, m]) => l === want.level && m.includes(want.contains))) {
        errors.push(`${where}: no ${want.level} log containing ${JSON.stringify(want.contains)}; logs: ${JSON.stringify(logs)}`);
      }
    }
  });
  return errors;
}
