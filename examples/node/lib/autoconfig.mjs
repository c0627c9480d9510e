// The relay-autoconfig component in Node.js: thin, synchronous wrappers around the module that
// `jco transpile --instantiation sync` produced from the very same .wasm the Rust host runs.
//
// - `AutoconfigClient` drives the `client` export (for hosts with their own SSE stack: one call
//   per SSE event, `tick` for timers).
// - `StreamClient` drives the `stream-client` export: the whole stream client, sans-IO. The host opens
//   the requests it asks for and reports statuses, body bytes, ends and timeouts.
//
// Both also drive the `state` export: `snapshot()` gives the whole state as bytes (to keep on
// disk, say) and `restore(bytes)` brings it back, checked, into a client.
//
// Either takes a handler: per callback (`addEnvironment` ... `keyExpired`, one call from the
// component into JavaScript each), or batched (`batch(lines)`: each call's callbacks as one
// string of JSON lines, taken with the component's `batch` export after the call; optionally
// `logs(lines)` for its log lines too). See `BatchHandler` below.
//
// The component imports only `wasi:logging/logging` and `relay:autoconfig/handler`; both are
// supplied here from JavaScript. It imports no WASI cli/io/clocks interfaces, so no
// @bytecodealliance/preview2-shim is loaded at run time.
//
// Every argument is checked here, in JavaScript, before the component is entered: a wrong one
// throws the usual TypeError or RangeError and leaves the instance and its state as they were.
// Only a real trap (a guest bug, or a handler that throws) drops the instance.
//
// u64/s64 values cross the boundary as BigInt: `now` and deadlines are BigInt milliseconds since
// the Unix epoch. Inputs accept a bigint or a safe, non-negative integer number.
//
// This is the entry point of the `relay-autoconfig` package; its types are in autoconfig.d.mts.

import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The default limit on event data (16 MiB), the same as the component's and the Rust driver's. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16n * 1024n * 1024n;

/** The WIT version of the interfaces this library drives. */
export const WIT_VERSION = '0.2.0';

/**
 * The transpiled component `Component.load()` uses by default: the package's own `out/` (built by
 * `npm pack` from the repository's dist/relay_autoconfig.wasm; in a checkout, by `npm run transpile`).
 */
export const DEFAULT_OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'out');

/** The `wasi:logging` levels, least severe first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

/**
 * A loaded (transpiled and compiled) component. Compile once, then create any number of
 * independent clients from it.
 */
export class Component {
  /**
   * @param {string} [outDir] the directory `jco transpile` wrote (default: the package's out/).
   * @param {{coreModules?: Map<string, WebAssembly.Module>}} [options] `coreModules`: core
   *   modules already compiled (`Component.compileCoreModules`, e.g. in another thread: a
   *   WebAssembly.Module can be posted to a worker); the others are compiled here when needed.
   * @returns {Promise<Component>}
   */
  static async load(outDir = DEFAULT_OUT_DIR, options = {}) {
    plainObject(options, 'options', ['coreModules']);
    const given = options.coreModules ?? new Map();
    if (!(given instanceof Map)) throw new TypeError(`options.coreModules must be a Map, got ${describe(given)}`);
    const entry = resolve(outDir, 'relay_autoconfig.js');
    let mod;
    try {
      mod = await import(pathToFileURL(entry).href);
    } catch (e) {
      throw new Error(
        `cannot load the transpiled component ${entry} (run \`npm run transpile\` first): ${e.message}`,
      );
    }
    const modules = new Map(given);
    const getCoreModule = (path) => {
      let m = modules.get(path);
      if (!m) {
        m = new WebAssembly.Module(readFileSync(resolve(outDir, path)));
        modules.set(path, m);
      }
      return m;
    };
    return new Component(mod.instantiate, getCoreModule, outDir);
  }

  /**
   * Compiles the transpiled component's core modules (every `*.wasm` in `outDir`) with
   * `WebAssembly.compile`, which runs in V8's background threads: start it early and give the
   * result to `load` (in this thread or, posted, in a worker).
   * @param {string} [outDir]
   * @returns {Promise<Map<string, WebAssembly.Module>>}
   */
  static async compileCoreModules(outDir = DEFAULT_OUT_DIR) {
    const names = readdirSync(outDir).filter((n) => n.endsWith('.wasm'));
    const compiled = await Promise.all(names.map((n) => WebAssembly.compile(readFileSync(resolve(outDir, n)))));
    return new Map(names.map((n, i) => [n, compiled[i]]));
  }

  constructor(instantiate, getCoreModule, outDir) {
    this.instantiate = instantiate;
    this.getCoreModule = getCoreModule;
    this.outDir = outDir;
  }

  /** Instantiates the component with `imports` (the jco import object); returns its exports. */
  instantiateWith(imports) {
    return this.instantiate(this.getCoreModule, imports);
  }
}

/** Thrown when the guest trapped (or a handler threw); the client has dropped that instance and its state. */
export class TrapError extends Error {
  name = 'TrapError';
}

/** Thrown by `StreamClient.start` when the component refused the options; nothing changed. */
export class StreamOptionsError extends Error {
  name = 'StreamOptionsError';
}

/**
 * Thrown by `restore` when the snapshot was refused (truncated, corrupt, foreign, of a newer
 * format version, inconsistent, or over `MAX_SNAPSHOT_BYTES`): the state is unchanged, no callback
 * was made, and the instance is fine.
 */
export class RestoreError extends Error {
  name = 'RestoreError';
}

// ---- argument checks (they run before the component is entered) ----

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 2 ** 32 - 1;

/**
 * A u64 from a bigint or a safe non-negative integer number.
 * @param {unknown} v
 * @param {string} name
 * @returns {bigint}
 */
export function u64(v, name) {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) throw new RangeError(`${name} must be in [0, 2^64 - 1], got ${v}`);
    return v;
  }
  if (typeof v !== 'number') throw new TypeError(`${name} must be a bigint or an integer number, got ${describe(v)}`);
  if (!Number.isInteger(v)) throw new TypeError(`${name} must be an integer, got ${v}`);
  if (v < 0) throw new RangeError(`${name} must not be negative, got ${v}`);
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be a safe integer (or a bigint), got ${v}`);
  return BigInt(v);
}

/** An integer number in [0, max]. */
function uint(v, name, max) {
  if (typeof v !== 'number') throw new TypeError(`${name} must be an integer number, got ${describe(v)}`);
  if (!Number.isInteger(v)) throw new TypeError(`${name} must be an integer, got ${v}`);
  if (v < 0 || v > max) throw new RangeError(`${name} must be in [0, ${max}], got ${v}`);
  return v;
}

function str(v, name) {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describe(v)}`);
  return v;
}

/** `option<string>`: null or undefined is `none`. */
function optStr(v, name) {
  if (v === null || v === undefined) return undefined;
  return str(v, name);
}

/**
 * `v` if it is a Uint8Array (a Buffer is one), else a TypeError. An empty one is replaced by a
 * fresh empty array: a view of a detached ArrayBuffer (transferred to a worker, say) has length
 * 0, and jco would fail on it inside the call, which would count as a trap and drop the state.
 */
function bytes(v, name) {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array, got ${describe(v)}`);
  return v.byteLength === 0 ? new Uint8Array(0) : v;
}

function bool(v, name) {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'object') return v.constructor?.name ? `a ${v.constructor.name}` : 'an object';
  return `${typeof v} ${String(v)}`;
}

function level(v, name) {
  str(v, name);
  if (!LOG_LEVELS.includes(v)) throw new RangeError(`${name} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

function plainObject(v, name, allowed) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${name} must be an object, got ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new TypeError(`${name}: unknown field ${JSON.stringify(k)} (expected ${allowed.join(', ')})`);
  }
  return v;
}

/** The default limit on remembered deletions, as in the component. */
export const DEFAULT_MAX_TOMBSTONES = 100_000;
/** The default limit on the estimated state size (192 MiB), as in the component. */
export const DEFAULT_MAX_STATE_BYTES = 192n * 1024n * 1024n;

/**
 * @typedef {object} Settings
 * @property {bigint | number} [maxMessageBytes] event data longer than this is malformed (default 16 MiB)
 * @property {'trace'|'debug'|'info'|'warn'|'error'|'critical'} [logLevel] the least severe level the
 *   component sends to `log` (default 'debug': everything)
 * @property {number} [maxTombstones] deleted IDs remembered, oldest forgotten first (default 100,000)
 * @property {bigint | number} [maxStateBytes] the estimated state size limit (default 192 MiB)
 */

/**
 * The WIT `settings` record, checked.
 * @param {Settings} [s]
 * @returns {{maxMessageBytes: bigint, logLevel: string, maxTombstones: number, maxStateBytes: bigint}}
 */
export function settings(s = {}) {
  plainObject(s, 'settings', ['maxMessageBytes', 'logLevel', 'maxTombstones', 'maxStateBytes']);
  const {
    maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
    logLevel = 'debug',
    maxTombstones = DEFAULT_MAX_TOMBSTONES,
    maxStateBytes = DEFAULT_MAX_STATE_BYTES,
  } = s;
  if (!Number.isInteger(maxTombstones) || maxTombstones < 0 || maxTombstones > 0xffff_ffff) {
    throw new TypeError(`maxTombstones: expected an integer from 0 to 4294967295, got ${String(maxTombstones)}`);
  }
  return {
    maxMessageBytes: u64(maxMessageBytes, 'maxMessageBytes'),
    logLevel: level(logLevel, 'logLevel'),
    maxTombstones,
    maxStateBytes: u64(maxStateBytes, 'maxStateBytes'),
  };
}

/**
 * The environment as jco gives it (the WIT `environment-params` record, its field names in
 * camelCase). Its JSON form (`envJson`) is the `env` of autoconfig-host's add/update lines.
 * @typedef {object} EnvironmentParams
 * @property {string} envId
 * @property {string} envKey
 * @property {string} envName
 * @property {string} projectKey
 * @property {string} projectName
 * @property {string} sdkKey
 * @property {string} mobileKey
 * @property {{key: string, expiresAt?: bigint} | undefined} expiringSdkKey
 * @property {bigint} defaultTtlMinutes
 * @property {boolean} secureMode
 * @property {bigint} version
 */

/**
 * The callbacks. They run synchronously inside the client's calls; one that throws kills the
 * instance (TrapError).
 * @typedef {object} Handler
 * @property {(env: EnvironmentParams) => void} addEnvironment
 * @property {(env: EnvironmentParams) => void} updateEnvironment
 * @property {(envId: string) => void} deleteEnvironment
 * @property {() => void} receivedAllEnvironments
 * @property {(envId: string, oldKey: string) => void} keyExpired
 * @property {(level: string, message: string, context: string) => void} [log]
 * @property {() => void} [reset] the component trapped and its state is gone: what follows starts
 *   from nothing (keep what is added or updated until the next `receivedAllEnvironments`, then
 *   drop every other environment)
 */

/**
 * The batched form of the callbacks (the component's `batch` export). A handler with a `batch`
 * function gets no per-callback calls: after every call that may make callbacks (`onEvent`,
 * `tick`, `restore`, and every `StreamClient` call) the client takes that call's callbacks from the
 * component as one string and passes it to `batch`, once, before the call returns (nothing when
 * the call made none). The text is one JSON object per line, each ending with "\n": exactly the
 * bytes `jsonLinesHandler` and autoconfig-host write (`parseBatch` parses it). With `logs` too,
 * the log lines are batched the same way (`LEVEL MESSAGE\n` each, `parseLogs`) and passed to
 * `logs` before `batch`; without it they come one by one to `log` during the call. A call that
 * traps delivers nothing of that call (the instance and its buffers are dropped; `reset` and the
 * TrapError follow as in the per-callback form), and a `batch` or `logs` that throws is a trap too.
 * @typedef {object} BatchHandler
 * @property {(lines: string) => void} batch
 * @property {(lines: string) => void} [logs]
 * @property {(level: string, message: string, context: string) => void} [log]
 * @property {() => void} [reset]
 */

/** Checks a handler's shape (the callbacks themselves are only called). */
function checkHandler(h) {
  if (h === null || typeof h !== 'object') throw new TypeError(`handler must be an object, got ${describe(h)}`);
  for (const name of ['batch', 'logs', 'log', 'reset']) {
    if (h[name] !== undefined && h[name] !== null && typeof h[name] !== 'function') {
      throw new TypeError(`handler.${name} must be a function, got ${describe(h[name])}`);
    }
  }
  if (typeof h.logs === 'function' && typeof h.batch !== 'function') {
    throw new TypeError('handler.logs needs handler.batch (batched log lines come with batched callbacks)');
  }
  return h;
}

function isComponentError(e) {
  return e?.constructor?.name === 'ComponentError' && 'payload' in e;
}

const WIT_NAMES = { client: 'client', streamClient: 'stream-client' };

/** One instance of the component, recreated after a trap. Shared by both clients. */
class Instance {
  /**
   * @param {Component} component
   * @param {Handler | BatchHandler} handler
   * @param {{maxMessageBytes: bigint, logLevel: string, maxTombstones: number, maxStateBytes: bigint}} s
   * @param {'client' | 'streamClient'} needs the export the client drives (jco's name)
   */
  constructor(component, handler, s, needs) {
    this.component = component;
    this.handler = checkHandler(handler);
    this.settings = s;
    this.needs = needs;
    this.exports = null;
    /** `batch(lines)`: callbacks taken as text after each call. */
    this.batched = typeof handler.batch === 'function';
    /** `logs(lines)`: log lines taken as text after each call. */
    this.logsBatched = this.batched && typeof handler.logs === 'function';
  }

  #imports() {
    const h = this.handler;
    const logging = {
      log: (lv, context, message) => {
        if (h.log) h.log(lv, message, context);
      },
    };
    const handler = {
      addEnvironment: (params) => h.addEnvironment(params),
      updateEnvironment: (params) => h.updateEnvironment(params),
      deleteEnvironment: (envId) => h.deleteEnvironment(envId),
      receivedAllEnvironments: () => h.receivedAllEnvironments(),
      keyExpired: (envId, oldKey) => h.keyExpired(envId, oldKey),
    };
    // jco 1.35 looks the interfaces up without their version; the versioned names are what its
    // .d.ts declares. Supplying both keeps this working either way.
    return {
      'wasi:logging/logging': logging,
      'wasi:logging/logging@0.1.0-draft': logging,
      'relay:autoconfig/types': {},
      [`relay:autoconfig/types@${WIT_VERSION}`]: {},
      'relay:autoconfig/handler': handler,
      [`relay:autoconfig/handler@${WIT_VERSION}`]: handler,
    };
  }

  ensure() {
    if (this.exports) return this.exports;
    let exports;
    try {
      exports = this.component.instantiateWith(this.#imports());
    } catch (e) {
      throw new TrapError(`cannot instantiate the component: ${e.message}`, { cause: e });
    }
    if (!exports[this.needs]) {
      throw new Error(
        `the transpiled component in ${this.component.outDir} does not export relay:autoconfig/${WIT_NAMES[this.needs]}@${WIT_VERSION}: ` +
          'rebuild the component and run `npm run transpile`',
      );
    }
    if (this.batched && !exports.batch) {
      throw new Error(
        `the transpiled component in ${this.component.outDir} does not export relay:autoconfig/batch@${WIT_VERSION} ` +
          '(a handler with `batch` needs it): rebuild the component and run `npm run transpile`',
      );
    }
    try {
      exports.client.configure({ ...this.settings });
      if (this.batched) exports.batch.setEnabled(true);
      if (this.logsBatched) exports.batch.setLogsBatched(true);
    } catch (e) {
      throw new TrapError(`cannot configure the component: ${e.message}`, { cause: e });
    }
    this.exports = exports;
    return exports;
  }

  /**
   * Runs `f(exports)`. A `result` error of the component (`ComponentError`, the instance is
   * fine) is passed to `onResultError`; anything else is a trap: the instance is dropped.
   * Batched, a call that may make callbacks (`callbacks`) is followed by `batch.take` (and
   * `batch.take-logs`) on the same instance, and what they return is delivered before the
   * result; a trap in the call, a take or a sink delivers nothing more of that call.
   */
  call(f, onResultError, callbacks = true) {
    const exports = this.ensure();
    let result;
    let refused = null;
    try {
      try {
        result = f(exports);
      } catch (e) {
        if (!(onResultError && isComponentError(e))) throw e;
        refused = e;
      }
      if (this.batched && callbacks) {
        const logs = this.logsBatched ? exports.batch.takeLogs() : '';
        const text = exports.batch.take();
        if (logs !== '') this.handler.logs(logs);
        if (text !== '') this.handler.batch(text);
      }
    } catch (e) {
      // A trapped instance is dead: drop it; the next call instantiates a fresh one, with no
      // state: the handler's optional `reset` says so (reconcile at the next `ready`).
      this.exports = null;
      if (typeof this.handler.reset === 'function') this.handler.reset();
      if (this.handler.log) {
        this.handler.log(
          'error',
          `the autoconfig component trapped and was dropped with its state: ${e?.message ?? e}`,
          'host',
        );
      }
      throw new TrapError(String(e?.message ?? e), { cause: e });
    }
    return refused ? onResultError(refused.payload) : result;
  }

  /** `state.snapshot`: the whole state as bytes. It makes no callback. */
  snapshot() {
    this.#needState();
    return this.call((e) => e.state.snapshot(), undefined, false);
  }

  /**
   * `state.restore`, its arguments checked first. A refused snapshot throws RestoreError (the
   * component's message) and changes nothing; the announcement, if asked for, reaches the handler
   * (batched: as the call's batch).
   * @param {Uint8Array} snapshot
   * @param {RestoreOptions} options
   * @returns {Restored}
   */
  restore(snapshot, options) {
    snapshot = bytes(snapshot, 'snapshot');
    const { announce = false } = plainObject(options, 'options', ['announce']);
    bool(announce, 'options.announce');
    if (snapshot.byteLength > MAX_SNAPSHOT_BYTES) {
      // Not even copied into the guest, where it could exhaust the memory and trap.
      throw new RestoreError(`the snapshot is ${snapshot.byteLength} bytes, over the limit of ${MAX_SNAPSHOT_BYTES}`);
    }
    this.#needState();
    const r = this.call(
      (e) => e.state.restore(snapshot, announce),
      (message) => {
        throw new RestoreError(String(message));
      },
    );
    return {
      environments: r.environments,
      tombstones: r.tombstones,
      pendingExpiries: r.pendingExpiries,
      nextDeadline: r.nextDeadline ?? null,
      lastEventId: r.lastEventId ?? null,
    };
  }

  /** Refuses (before any call) a component built without the `state` export. */
  #needState() {
    if (!this.ensure().state) {
      throw new Error(
        `the transpiled component in ${this.component.outDir} does not export relay:autoconfig/state@${WIT_VERSION}: ` +
          'rebuild the component and run `npm run transpile`',
      );
    }
  }
}

// ---- snapshot and restore (the `state` export) ----

/**
 * The largest snapshot `restore` copies into the component (256 MiB): the component's default
 * state limit (192 MiB) with room to spare, and the largest state file `autoconfig-host` reads.
 * A larger one is refused with RestoreError before the component is entered.
 */
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

/**
 * @typedef {object} RestoreOptions
 * @property {boolean} [announce] tell the handler: `addEnvironment` for every restored environment
 *   (by ascending env id), then `receivedAllEnvironments` (default false: silent)
 */

/**
 * What `restore` brought back (the WIT `restored` record).
 * @typedef {object} Restored
 * @property {number} environments live environments
 * @property {number} tombstones remembered deletions
 * @property {number} pendingExpiries expiring keys whose `keyExpired` is still to come
 * @property {bigint | null} nextDeadline when `tick` / `onTimeout` is next needed (ms since the
 *   Unix epoch), or null: no timer
 * @property {string | null} lastEventId the stream's last event id in the snapshot
 */

const PARSED_EVENTS = new Set(['put', 'patch', 'delete']);

/**
 * @typedef {object} Directive
 * @property {null | 'reconnect-requested' | 'malformed-data'} restart
 * @property {bigint | null} nextDeadline
 */

/**
 * One running instance of the component's `client` export and the handler that receives its
 * callbacks: the Node counterpart of the Rust `Driver`.
 *
 * Like the Rust driver: data over `maxMessageBytes` for put/patch/delete is rejected here
 * without being copied into the guest, and if the guest traps, the call throws TrapError and the
 * next call starts a fresh instance (same handler and settings) with empty state, so the caller
 * must restart the stream.
 */
export class AutoconfigClient {
  #instance;

  /**
   * @param {Component} component
   * @param {Handler | BatchHandler} handler
   * @param {Settings} [options]
   */
  constructor(component, handler, options = {}) {
    this.#instance = new Instance(component, handler, settings(options), 'client');
    /** The next deadline as of the last call (BigInt ms or null). @type {bigint | null} */
    this.nextDeadline = null;
    this.#instance.ensure();
  }

  /** The settings in force. */
  get settings() {
    return this.#instance.settings;
  }

  #call(f, callbacks = true) {
    return this.#guarded(() => this.#instance.call((e) => f(e.client), undefined, callbacks));
  }

  /** Runs `run`; after a trap the fresh instance has no timer: `nextDeadline` is null. */
  #guarded(run) {
    try {
      return run();
    } catch (e) {
      if (e instanceof TrapError) this.nextDeadline = null;
      throw e;
    }
  }

  /**
   * Replaces the settings (kept across instance restarts).
   * @param {Settings} [s]
   */
  configure(s = {}) {
    const checked = settings(s);
    this.#instance.settings = checked;
    this.#call((c) => c.configure({ ...checked }), false);
  }

  /**
   * Feeds one SSE event.
   * @param {string} name the SSE event type
   * @param {string} data its data
   * @param {bigint | number} now wall-clock ms since the Unix epoch
   * @returns {Directive}
   */
  onEvent(name, data, now) {
    str(name, 'name');
    str(data, 'data');
    const at = u64(now, 'now');
    const max = this.#instance.settings.maxMessageBytes;
    if (PARSED_EVENTS.has(name)) {
      const bytes = BigInt(Buffer.byteLength(data, 'utf8'));
      if (bytes > max) {
        // Not even copied into the guest: reject it here, as the guest would.
        this.#instance.handler.log?.(
          'error',
          `Received streaming "${name}" event with malformed JSON data (${bytes} bytes, over the limit of ${max}); will restart stream`,
          'host',
        );
        return { restart: 'malformed-data', nextDeadline: this.nextDeadline };
      }
    }
    const d = this.#call((c) => c.onEvent(name, data, at));
    const directive = { restart: d.restart ?? null, nextDeadline: d.nextDeadline ?? null };
    this.nextDeadline = directive.nextDeadline;
    return directive;
  }

  /**
   * Fires every timer due at `now`.
   * @param {bigint | number} now
   * @returns {bigint | null} the next deadline
   */
  tick(now) {
    const at = u64(now, 'now');
    const next = this.#call((c) => c.tick(at)) ?? null;
    this.nextDeadline = next;
    return next;
  }

  /**
   * The whole state (environments, deletions, pending expiries) as bytes, in the component's
   * documented snapshot format. It holds SDK keys: store it where only the proxy can read it.
   * @returns {Uint8Array}
   */
  snapshot() {
    return this.#guarded(() => this.#instance.snapshot());
  }

  /**
   * Replaces the whole state with a snapshot's (the settings are kept) and sets `nextDeadline`
   * to the restored one: re-arm your timer with it.
   * @param {Uint8Array} snapshot bytes `snapshot()` gave (a Buffer is fine)
   * @param {RestoreOptions} [options]
   * @returns {Restored}
   * @throws {RestoreError} when the snapshot is refused (nothing changed)
   */
  restore(snapshot, options = {}) {
    const restored = this.#guarded(() => this.#instance.restore(snapshot, options));
    this.nextDeadline = restored.nextDeadline;
    return restored;
  }
}

// ---- the stream client ----

/**
 * @typedef {object} StreamOptions
 * @property {string} key the auto-configuration key, sent raw in `Authorization`
 * @property {string} [streamUri] default 'https://stream.launchdarkly.com'
 * @property {bigint | number} [initialRetryDelayMs] default 1000 (the component raises it to >= 100)
 * @property {bigint | number} [readTimeoutMs] default 300000 (5 min); 0 is refused
 * @property {bigint | number} [jitterSeed] seeds the backoff jitter; default: random
 * @property {string | null} [lastEventId] resume from this event id
 * @property {number} [priorFailures] how many times the host already replaced the component (default 0)
 */

/**
 * One HTTP request to open: `GET url` with these headers, in order; never follow redirects.
 * @typedef {object} StreamRequest
 * @property {string} url
 * @property {Array<[string, string]>} headers
 */

/**
 * What to do after a `StreamClient` call, in this order.
 * @typedef {object} Step
 * @property {boolean} disconnect close the open request
 * @property {StreamRequest | null} connect open this request now
 * @property {'invalid-key' | null} stop stop for good
 * @property {bigint | null} nextDeadline call `onTimeout` at this wall-clock time (ms)
 * @property {string | null} lastEventId the stream's last event id when this call changed it
 *   ('' when an empty `id:` cleared it), else null; pass the latest as `options.lastEventId` when
 *   starting a replacement after a trap, so the stream resumes where it was
 */

const OPTION_FIELDS = ['key', 'streamUri', 'initialRetryDelayMs', 'readTimeoutMs', 'jitterSeed', 'lastEventId', 'priorFailures'];

/** A random u64 for `jitterSeed`. */
export function randomSeed() {
  return randomBytes(8).readBigUInt64LE();
}

/**
 * The WIT `stream-options` record, checked, with the defaults filled in.
 * @param {StreamOptions} o
 */
export function streamOptions(o) {
  plainObject(o, 'options', OPTION_FIELDS);
  const {
    key, streamUri = 'https://stream.launchdarkly.com', initialRetryDelayMs = 1000, readTimeoutMs = 300_000,
    jitterSeed = randomSeed(), lastEventId = null, priorFailures = 0,
  } = o;
  return {
    key: str(key, 'options.key'),
    streamUri: str(streamUri, 'options.streamUri'),
    initialRetryDelayMs: u64(initialRetryDelayMs, 'options.initialRetryDelayMs'),
    readTimeoutMs: u64(readTimeoutMs, 'options.readTimeoutMs'),
    jitterSeed: u64(jitterSeed, 'options.jitterSeed'),
    lastEventId: optStr(lastEventId, 'options.lastEventId'),
    priorFailures: uint(priorFailures, 'options.priorFailures', U32_MAX),
  };
}

function normalStep(s) {
  return {
    disconnect: s.disconnect,
    connect: s.connect ? { url: s.connect.url, headers: s.connect.headers.map(([n, v]) => [n, v]) } : null,
    stop: s.stop ?? null,
    nextDeadline: s.nextDeadline ?? null,
    lastEventId: s.lastEventId ?? null,
  };
}

/**
 * The component's sans-IO stream client (the `stream-client` export): SSE parsing, Last-Event-ID,
 * `retry:`, backoff with jitter, the redirect, status, content-type and size policies and the
 * read timeout all run in the component. The host only does I/O:
 *
 * - `start(options, now)`, then for each request a step asks for (`step.connect`): open it
 *   without following redirects, `onResponse(status, contentType, location, now)`, `onBody(chunk,
 *   now)` per chunk, `onClosed(null | message, now)` at its end (or alone if no response came);
 * - close the open request when `step.disconnect`; stop when `step.stop`;
 * - sleep until `step.nextDeadline` and call `onTimeout(now)`.
 *
 * Handler callbacks and logs are made during these calls. A trap throws TrapError and drops the
 * instance with its state: the next call runs on a fresh instance, so call `start` again with
 * `priorFailures` raised by one (the first connection then waits as after that many failures)
 * and `lastEventId` set to the latest `step.lastEventId` seen (the stream resumes there).
 */
export class StreamClient {
  #instance;

  /**
   * @param {Component} component
   * @param {Handler | BatchHandler} handler
   * @param {Settings} [options] the settings of the state machine (`maxMessageBytes` is also the
   *   stream's event size limit)
   */
  constructor(component, handler, options = {}) {
    this.#instance = new Instance(component, handler, settings(options), 'streamClient');
    this.#instance.ensure();
  }

  /** The settings in force. */
  get settings() {
    return this.#instance.settings;
  }

  /**
   * Replaces the settings (kept across instance restarts).
   * @param {Settings} [s]
   */
  configure(s = {}) {
    const checked = settings(s);
    this.#instance.settings = checked;
    this.#instance.call((e) => e.client.configure({ ...checked }), undefined, false);
  }

  #step(f) {
    return normalStep(this.#instance.call((e) => f(e.streamClient)));
  }

  /**
   * Starts (or restarts) the client: normally the step says `connect` at once. Any connection
   * in progress is forgotten (close it); environments and timers are kept.
   * @param {StreamOptions} options
   * @param {bigint | number} now
   * @returns {Step}
   * @throws {StreamOptionsError} when the component refuses an option (nothing changed)
   */
  start(options, now) {
    const o = streamOptions(options);
    const at = u64(now, 'now');
    const s = this.#instance.call(
      (e) => e.streamClient.start(o, at),
      (message) => {
        throw new StreamOptionsError(String(message));
      },
    );
    return normalStep(s);
  }

  /**
   * The open request got its response headers.
   * @param {number} status the HTTP status (an integer in [0, 65535])
   * @param {string | null | undefined} contentType the `Content-Type` value
   * @param {string | null | undefined} location the `Location` value
   * @param {bigint | number} now
   * @returns {Step}
   */
  onResponse(status, contentType, location, now) {
    const st = uint(status, 'status', 0xffff);
    const ct = optStr(contentType, 'contentType');
    const loc = optStr(location, 'location');
    const at = u64(now, 'now');
    return this.#step((s) => s.onResponse(st, ct, loc, at));
  }

  /**
   * The next bytes of the open response's body (any size, split anywhere).
   * @param {Uint8Array} chunk
   * @param {bigint | number} now
   * @returns {Step}
   */
  onBody(chunk, now) {
    const body = bytes(chunk, 'chunk');
    const at = u64(now, 'now');
    return this.#step((s) => s.onBody(body, at));
  }

  /**
   * The open request ended: `error` null for a clean end of the body, else a short description.
   * @param {string | null | undefined} error
   * @param {bigint | number} now
   * @returns {Step}
   */
  onClosed(error, now) {
    const err = optStr(error, 'error');
    const at = u64(now, 'now');
    return this.#step((s) => s.onClosed(err, at));
  }

  /**
   * The deadline passed (early or late is harmless).
   * @param {bigint | number} now
   * @returns {Step}
   */
  onTimeout(now) {
    const at = u64(now, 'now');
    return this.#step((s) => s.onTimeout(at));
  }

  /**
   * The whole state (environments, deletions, pending expiries and the stream's last event id)
   * as bytes, in the component's documented snapshot format. It holds SDK keys: store it where
   * only the proxy can read it.
   * @returns {Uint8Array}
   */
  snapshot() {
    return this.#instance.snapshot();
  }

  /**
   * Replaces the whole state with a snapshot's (the settings are kept). Restore before the first
   * `start`: a `start` without `options.lastEventId` then resumes from `restored.lastEventId`
   * (a client already started keeps its stream's own event id). The restored expiry timers are
   * in the next step's `nextDeadline`; restored into a running client, call `onTimeout` at
   * `restored.nextDeadline` if that is earlier than the deadline you are waiting for.
   * @param {Uint8Array} snapshot bytes `snapshot()` gave (a Buffer is fine)
   * @param {RestoreOptions} [options]
   * @returns {Restored}
   * @throws {RestoreError} when the snapshot is refused (nothing changed)
   */
  restore(snapshot, options = {}) {
    return this.#instance.restore(snapshot, options);
  }
}

// ---- The JSON-lines form of callbacks (the same bytes autoconfig-host prints) ----

const jstr = (s) => JSON.stringify(s);

// JSON.rawJSON (Node 21+) keeps a u64/s64 exact past 2^53; without it (Node 20) a BigInt becomes
// a Number, exact for every timestamp, TTL and version in practice (up to 2^53).
const rawJSON = typeof JSON.rawJSON === 'function' ? JSON.rawJSON : null;

/**
 * The replacer that gives a jco value its JSON form: a BigInt (u64/s64) is a number, an
 * `undefined` (an `option` that is `none`) is `null`. No field is named: the record's own fields,
 * in WIT order, are the JSON's.
 */
export function jsonReplacer(_key, value) {
  if (typeof value === 'bigint') return rawJSON ? rawJSON(value.toString()) : Number(value);
  return value === undefined ? null : value;
}

/**
 * The ENV object of an add/update line as compact JSON: the WIT `environment-params` record as
 * jco gives it (camelCase WIT names, in WIT order), u64/s64 as numbers and `none` as `null`.
 */
export function envJson(p) {
  return JSON.stringify(p, jsonReplacer);
}

export const lines = {
  add: (p) => `{"op":"add","env":${envJson(p)}}`,
  update: (p) => `{"op":"update","env":${envJson(p)}}`,
  delete: (envId) => `{"op":"delete","envId":${jstr(envId)}}`,
  ready: () => '{"op":"ready"}',
  keyExpired: (envId, oldKey) => `{"op":"key-expired","envId":${jstr(envId)},"oldKey":${jstr(oldKey)}}`,
};

/**
 * A handler that turns every callback into its JSON line and passes it to `emit` (e.g. to
 * write it to stdout), and log lines to `log(level, message)`.
 * @param {(line: string) => void} emit
 * @param {(level: string, message: string) => void} [log]
 * @returns {Handler}
 */
export function jsonLinesHandler(emit, log = () => {}) {
  return {
    addEnvironment: (p) => emit(lines.add(p)),
    updateEnvironment: (p) => emit(lines.update(p)),
    deleteEnvironment: (id) => emit(lines.delete(id)),
    receivedAllEnvironments: () => emit(lines.ready()),
    keyExpired: (id, key) => emit(lines.keyExpired(id, key)),
    log: (lv, message) => log(lv, message),
  };
}

// ---- The batched form (a handler with `batch`: see BatchHandler) ----

/**
 * One batch (what a `BatchHandler`'s `batch` gets: JSON lines, each ending with "\n") as one
 * object per callback, in order: `{op: 'add' | 'update', env}`, `{op: 'delete', envId}`,
 * `{op: 'ready'}`, `{op: 'key-expired', envId, oldKey}`. `env` is the JSON form of
 * `EnvironmentParams` (numbers for u64/s64, exact up to 2^53; `null` for `none`). '' gives [].
 * @param {string} text
 * @returns {object[]}
 * @throws {TypeError} when `text` is not a string; {SyntaxError} when it is not JSON lines
 */
export function parseBatch(text) {
  str(text, 'text');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new SyntaxError('a batch ends with a newline');
  // A JSON line holds no raw line break (JSON escapes them in strings): the lines are the
  // elements of one array, parsed in one go.
  const body = text.slice(0, -1);
  const calls = JSON.parse(`[${body.replaceAll('\n', ',')}]`);
  let lines = 1;
  for (let i = body.indexOf('\n'); i !== -1; i = body.indexOf('\n', i + 1)) lines++;
  if (calls.length !== lines || !calls.every((c) => c !== null && typeof c === 'object' && !Array.isArray(c))) {
    throw new SyntaxError('a batch is one JSON object per line');
  }
  return calls;
}

/** The levels a batched log line starts with. */
export const LOG_LINE_LEVELS = ['debug', 'info', 'warn', 'error'];

/**
 * Batched log lines (what a `BatchHandler`'s `logs` gets: `LEVEL MESSAGE\n` each) as
 * `[level, message]` pairs, in order. A line break inside a message stays written as the two
 * characters `\n`, as the component wrote it.
 * @param {string} text
 * @returns {Array<[string, string]>}
 * @throws {TypeError} when `text` is not a string; {SyntaxError} on a line without a known level
 */
export function parseLogs(text) {
  str(text, 'text');
  const out = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) {
      const space = text.indexOf(' ', start);
      const cut = space === -1 || space > end ? end : space;
      const level = text.slice(start, cut);
      if (!LOG_LINE_LEVELS.includes(level)) {
        throw new SyntaxError(`a batched log line has no level: ${JSON.stringify(text.slice(start, Math.min(end, start + 80)))}`);
      }
      out.push([level, cut === end ? '' : text.slice(cut + 1, end)]);
    }
    start = end + 1;
  }
  return out;
}
