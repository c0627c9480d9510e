// The shared scenario corpus (tests/scenarios/*.json) run through the transpiled component: the
// Node counterpart of tests/src/scenario.rs, with the same file format and the same checks
// (exact callbacks in their JSON-lines form, restart directive, next deadline, log fragments).
// An add/update's `env` is compared as a JSON value (key order aside) with the JSON form of the
// record the component gave (`envJson`): no list of the record's fields is kept here.
//
// Each corpus runs in three forms (`MODES`): per callback (`callbacks`), batched (`batched`: a
// `BatchHandler`, each call's callbacks as JSON lines written by the component itself, decoded
// here line by line), and batched with the log lines batched too (`batched-logs`). The same
// expectations hold for all three.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { AutoconfigClient, envJson, lines, parseLogs } from './autoconfig.mjs';
import { canonical, hasLoneSurrogate, parse } from './json-raw.mjs';

/** <repo>/tests/scenarios */
export const CORPUS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../tests/scenarios',
);

export const U64_MAX = (1n << 64n) - 1n;

/** The scenario files, sorted by name (byte order, like the Rust runner's path sort). */
export function corpusFiles(dir = CORPUS_DIR) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0))
    .map((n) => join(dir, n));
}

// ---- strict decoding (the Rust structs use deny_unknown_fields) ----

export function fields(node, where, allowed) {
  if (node.kind !== 'object') throw new Error(`${where}: expected an object`);
  if (node.duplicate) throw new Error(`${where}: duplicate field \`${node.duplicate}\``);
  for (const key of node.value.keys()) {
    if (!allowed.includes(key)) {
      throw new Error(`${where}: unknown field \`${key}\`, expected one of ${allowed.join(', ')}`);
    }
  }
  return node.value;
}
export const absent = (n) => n === undefined || n.kind === 'null';
export function string(n, where, required = true) {
  if (absent(n)) {
    if (required) throw new Error(`${where}: missing string`);
    return null;
  }
  if (n.kind !== 'string') throw new Error(`${where}: expected a string`);
  return n.value;
}
export function int(n, where, min, max, required = true) {
  if (absent(n)) {
    if (required) throw new Error(`${where}: missing integer`);
    return null;
  }
  if (n.kind !== 'integer' || n.value < min || n.value > max) {
    throw new Error(`${where}: expected an integer in [${min}, ${max}]`);
  }
  return n.value;
}
export const u64 = (n, where, required) => int(n, where, 0n, U64_MAX, required);

/**
 * An add/update line with its env in canonical JSON (keys sorted at every level, see
 * `canonical`): the corpus's env objects and the component's records compare as JSON values.
 * @param {'add' | 'update'} op
 * @param {object} envNode the env as a json-raw node
 */
function envLine(op, envNode) {
  return `{"op":"${op}","env":${canonical(envNode)}}`;
}

/** The comparable line of an add/update callback: the record's JSON form, canonical. */
export const recordLine = (op, params) => envLine(op, parse(envJson(params)));

/**
 * A handler that writes each callback down as its comparable line into `calls` (add/update by
 * `recordLine`, the others as `lines` prints them) and each log line into `logs`.
 */
export function recordingHandler(calls, logs) {
  return {
    addEnvironment: (p) => calls.push(recordLine('add', p)),
    updateEnvironment: (p) => calls.push(recordLine('update', p)),
    deleteEnvironment: (id) => calls.push(lines.delete(id)),
    receivedAllEnvironments: () => calls.push(lines.ready()),
    keyExpired: (id, key) => calls.push(lines.keyExpired(id, key)),
    log: (level, message) => logs.push([level, message]),
  };
}

/** The forms a corpus runs in: per callback, batched, batched with batched log lines. */
export const MODES = ['callbacks', 'batched', 'batched-logs'];

/**
 * The handler of a corpus run in `mode` (see MODES), writing each callback's comparable line
 * into `calls` and each log line into `logs`. Batched, every batch is checked as it arrives: a
 * non-empty string of JSON lines, each an object the corpus format accepts (unknown fields are
 * refused), at most one batch per call (`endCall()` resets that count; it returns how many came).
 * A batch that fails the check throws, which the client turns into a trap: the run fails.
 * @param {string} mode
 * @param {string[]} calls
 * @param {Array<[string, string]>} logs
 */
export function modeHandler(mode, calls, logs) {
  if (mode === 'callbacks') return Object.assign(recordingHandler(calls, logs), { endCall: () => 0 });
  if (!MODES.includes(mode)) throw new Error(`unknown mode ${JSON.stringify(mode)}; expected one of ${MODES.join(', ')}`);
  let batches = 0;
  const handler = {
    batch: (text) => {
      batches++;
      if (typeof text !== 'string' || text === '' || !text.endsWith('\n')) {
        throw new Error(`a batch is JSON lines ending with a newline, got ${JSON.stringify(String(text).slice(0, 80))}`);
      }
      if (batches > 1) throw new Error('two batches for one call');
      text.slice(0, -1).split('\n').forEach((line, i) => {
        try {
          calls.push(expectedLine(parse(line), `batch line ${i}`));
        } catch (e) {
          throw new Error(`${e.message}: ${JSON.stringify(line.slice(0, 200))}`);
        }
      });
    },
    log: (level, message) => logs.push([level, message]),
    endCall: () => {
      const n = batches;
      batches = 0;
      return n;
    },
  };
  if (mode === 'batched-logs') {
    handler.logs = (text) => {
      for (const pair of parseLogs(text)) logs.push(pair);
    };
  }
  return handler;
}

/** An expected callback, decoded and turned into its comparable line. */
export function expectedLine(node, where) {
  if (node.kind !== 'object') throw new Error(`${where}: expected an object`);
  const op = string(node.value.get('op'), `${where}.op`);
  switch (op) {
    case 'add':
    case 'update': {
      const f = fields(node, where, ['op', 'env']);
      const env = f.get('env');
      if (env === undefined) throw new Error(`${where}: missing field \`env\``);
      if (env.kind !== 'object') throw new Error(`${where}.env: expected an object`);
      try {
        return envLine(op, env);
      } catch (e) {
        throw new Error(`${where}.env: ${e.message}`);
      }
    }
    case 'delete': {
      const f = fields(node, where, ['op', 'envId']);
      return lines.delete(string(f.get('envId'), `${where}.envId`));
    }
    case 'ready':
      fields(node, where, ['op']);
      return lines.ready();
    case 'key-expired': {
      const f = fields(node, where, ['op', 'envId', 'oldKey']);
      return lines.keyExpired(string(f.get('envId'), `${where}.envId`), string(f.get('oldKey'), `${where}.oldKey`));
    }
    default:
      throw new Error(`${where}: unknown op \`${op}\``);
  }
}

/** Decodes a scenario file's text. Throws on anything the Rust runner would reject. */
export function decodeScenario(text) {
  const root = parse(text);
  const top = fields(root, 'scenario', ['name', 'description', 'settings', 'steps']);
  const scenario = {
    name: string(top.get('name'), 'name'),
    description: string(top.get('description'), 'description', false) ?? '',
    settings: null,
    steps: [],
  };
  if (!absent(top.get('settings'))) {
    const s = fields(top.get('settings'), 'settings', ['maxMessageBytes']);
    scenario.settings = { maxMessageBytes: u64(s.get('maxMessageBytes'), 'settings.maxMessageBytes') };
  }
  const steps = top.get('steps');
  if (!steps || steps.kind !== 'array') throw new Error('steps: expected an array');
  steps.value.forEach((node, index) => {
    const where = `steps[${index}]`;
    const f = fields(node, where, ['event', 'data', 'now', 'tick', 'expect']);
    if (f.get('expect') === undefined) throw new Error(`${where}: missing field \`expect\``);
    const x = fields(f.get('expect'), `${where}.expect`, ['calls', 'restart', 'nextDeadline', 'logs']);
    const calls = x.get('calls');
    if (!calls || calls.kind !== 'array') throw new Error(`${where}.expect.calls: expected an array`);
    const logs = x.get('logs');
    if (logs !== undefined && logs.kind !== 'array') throw new Error(`${where}.expect.logs: expected an array`);
    scenario.steps.push({
      event: string(f.get('event'), `${where}.event`, false),
      data: absent(f.get('data')) ? null : f.get('data'),
      now: u64(f.get('now'), `${where}.now`, false),
      tick: u64(f.get('tick'), `${where}.tick`, false),
      expect: {
        calls: calls.value.map((c, i) => expectedLine(c, `${where}.expect.calls[${i}]`)),
        restart: string(x.get('restart'), `${where}.expect.restart`, false),
        nextDeadline: u64(x.get('nextDeadline'), `${where}.expect.nextDeadline`, false),
        logs: (logs ? logs.value : []).map((l, i) => {
          const lf = fields(l, `${where}.expect.logs[${i}]`, ['level', 'contains']);
          return {
            level: string(lf.get('level'), `${where}.expect.logs[${i}].level`),
            contains: string(lf.get('contains'), `${where}.expect.logs[${i}].contains`),
          };
        }),
      },
    });
  });
  return scenario;
}

/** Loads a scenario file. */
export function loadScenario(path) {
  try {
    return decodeScenario(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${e.message}`);
  }
}

/** The event data as text: a JSON string as is, any other JSON value as its source text. */
function dataText(step) {
  if (step.data === null) return '';
  if (step.data.kind === 'string') {
    if (hasLoneSurrogate(step.data.value)) throw new Error('bad data string: lone surrogate');
    return step.data.value;
  }
  return step.data.raw;
}

/**
 * Runs a scenario on a fresh instance of the component, per callback or batched (`mode`, see
 * MODES). Returns the list of mismatches (empty when it passed); throws on a malformed step or a
 * trap, as the Rust runner fails.
 */
export function runScenario(component, scenario, mode = 'callbacks') {
  const calls = [];
  const logs = [];
  const handler = modeHandler(mode, calls, logs);
  const client = new AutoconfigClient(component, handler);
  if (scenario.settings) client.configure(scenario.settings);
  const errors = [];
  scenario.steps.forEach((step, index) => {
    logs.length = 0;
    let restart;
    let deadline;
    if (step.event !== null && step.tick === null) {
      if (step.now === null) throw new Error(`step ${index}: an event step needs \`now\``);
      let data;
      try {
        data = dataText(step);
      } catch (e) {
        throw new Error(`step ${index}: ${e.message}`);
      }
      try {
        ({ restart, nextDeadline: deadline } = client.onEvent(step.event, data, step.now));
      } catch (e) {
        throw new Error(`step ${index}: ${e.message}`);
      }
    } else if (step.event === null && step.tick !== null) {
      restart = null;
      try {
        deadline = client.tick(step.tick);
      } catch (e) {
        throw new Error(`step ${index}: ${e.message}`);
      }
    } else {
      throw new Error(`step ${index}: give exactly one of \`event\` and \`tick\``);
    }
    handler.endCall();
    const actual = calls.splice(0);
    const expected = step.expect.calls;
    if (actual.length !== expected.length || actual.some((l, i) => l !== expected[i])) {
      errors.push(
        `step ${index}: callbacks differ\n  expected: [${expected.join(', ')}]\n  actual:   [${actual.join(', ')}]`,
      );
    }
    if (restart !== step.expect.restart) {
      errors.push(`step ${index}: restart ${restart}, expected ${step.expect.restart}`);
    }
    if (deadline !== step.expect.nextDeadline) {
      errors.push(`step ${index}: next deadline ${deadline}, expected ${step.expect.nextDeadline}`);
    }
    for (const want of step.expect.logs) {
      if (!logs.some(([l, m]) => l === want.level && m.includes(want.contains))) {
        errors.push(
          `step ${index}: no ${want.level} log containing ${JSON.stringify(want.contains)}; logs: ${JSON.stringify(logs)}`,
        );
      }
    }
  });
  return errors;
}
