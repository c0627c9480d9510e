// The relay-autoconfig component in Node.js: a thin, synchronous wrapper around the module that
// `jco transpile --instantiation sync` produced from the very same .wasm the Rust host runs.
//
// The component imports only `wasi:logging/logging` and `relay:autoconfig/handler`; both are
// supplied here from JavaScript. It imports no WASI cli/io/clocks interfaces, so no
// @bytecodealliance/preview2-shim is loaded at run time.
//
// u64/s64 values cross the boundary as BigInt: `now` and deadlines are BigInt milliseconds since
// the Unix epoch (plain numbers are accepted as input and converted).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The default limit on event data (16 MiB), the same as the component's and the Rust driver's. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16n * 1024n * 1024n;

/** The .wasm to transpile: $AUTOCONFIG_COMPONENT or the one built with the repository. */
export function componentPath() {
  return resolve(
    process.env.AUTOCONFIG_COMPONENT ||
      resolve(dirname(fileURLToPath(import.meta.url)), '../../../target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm'),
  );
}

/** Where `npm run transpile` puts the transpiled component. */
export const DEFAULT_OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'out');

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

/**
 * A loaded (transpiled and compiled) component. Compile once, then create any number of
 * independent clients from it.
 */
export class Component {
  /** @param {string} outDir the directory `jco transpile` wrote (default: ./out). */
  static async load(outDir = DEFAULT_OUT_DIR) {
    const entry = resolve(outDir, 'relay_autoconfig.js');
    let mod;
    try {
      mod = await import(pathToFileURL(entry).href);
    } catch (e) {
      throw new Error(
        `cannot load the transpiled component ${entry} (run \`npm run transpile\` first): ${e.message}`,
      );
    }
    const modules = new Map();
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

/** Thrown when the guest trapped; the client has dropped that instance and its state. */
export class TrapError extends Error {}

const PARSED_EVENTS = new Set(['put', 'patch', 'delete']);

function big(n) {
  return typeof n === 'bigint' ? n : BigInt(n);
}

/** The WIT `settings` record: `{ maxMessageBytes: bigint, logLevel: string }`. */
export function settings({ maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, logLevel = 'debug' } = {}) {
  return { maxMessageBytes: big(maxMessageBytes), logLevel };
}

/**
 * One running instance of the component and the handler that receives its callbacks: the Node
 * counterpart of the Rust `Driver`.
 *
 * handler: {
 *   addEnvironment(params), updateEnvironment(params), deleteEnvironment(envId),
 *   receivedAllEnvironments(), keyExpired(envId, oldKey),
 *   log?(level, message, context)    // level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical'
 * }
 * params is the WIT record as jco gives it: { envId, envKey, envName, projectKey, projectName,
 * sdkKey, mobileKey, expiringSdkKey?: { key, expiresAt?: bigint }, defaultTtlMinutes: bigint,
 * secureMode, version: bigint }.
 *
 * Like the Rust driver: data over `maxMessageBytes` for put/patch/delete is rejected here
 * without being copied into the guest, and if the guest traps, the call throws TrapError and the
 * next call starts a fresh instance (same handler and settings) with empty state, so the caller
 * must restart the stream.
 */
export class AutoconfigClient {
  constructor(component, handler, { maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, logLevel = 'debug' } = {}) {
    this.component = component;
    this.handler = handler;
    this.settings = settings({ maxMessageBytes, logLevel });
    this.exports = null;
    /** The next deadline as of the last call (BigInt ms or null). */
    this.nextDeadline = null;
    this.#ensureInstance();
  }

  #imports() {
    const h = this.handler;
    const logging = {
      log: (level, context, message) => {
        if (h.log) h.log(level, message, context);
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
      'relay:autoconfig/types@0.1.0': {},
      'relay:autoconfig/handler': handler,
      'relay:autoconfig/handler@0.1.0': handler,
    };
  }

  #ensureInstance() {
    if (this.exports) return;
    let exports;
    try {
      exports = this.component.instantiateWith(this.#imports());
      exports.client.configure({ ...this.settings });
    } catch (e) {
      throw new TrapError(`cannot instantiate the component: ${e.message}`, { cause: e });
    }
    this.exports = exports;
  }

  #call(f) {
    this.#ensureInstance();
    try {
      return f(this.exports.client);
    } catch (e) {
      // A trapped instance is dead: drop it; the next call instantiates a fresh one.
      this.exports = null;
      this.nextDeadline = null;
      if (this.handler.log) {
        this.handler.log(
          'error',
          `the autoconfig component trapped and was restarted with empty state: ${e.message}`,
          'host',
        );
      }
      throw new TrapError(e.message, { cause: e });
    }
  }

  /**
   * Replaces the settings (kept across instance restarts). `logLevel` ('debug', 'info', 'warn'
   * or 'error') is the least severe level the component sends to `log`.
   */
  configure({ maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, logLevel = 'debug' } = {}) {
    this.settings = settings({ maxMessageBytes, logLevel });
    this.#call((c) => c.configure({ ...this.settings }));
  }

  /**
   * Feeds one SSE event. Returns { restart: null | 'reconnect-requested' | 'malformed-data',
   * nextDeadline: bigint | null }.
   */
  onEvent(name, data, now) {
    if (PARSED_EVENTS.has(name)) {
      const bytes = BigInt(Buffer.byteLength(data, 'utf8'));
      if (bytes > this.settings.maxMessageBytes) {
        // Not even copied into the guest: reject it here, as the guest would.
        if (this.handler.log) {
          this.handler.log(
            'error',
            `Received streaming "${name}" event with malformed JSON data (${bytes} bytes, over the limit of ${this.settings.maxMessageBytes}); will restart stream`,
            'host',
          );
        }
        return { restart: 'malformed-data', nextDeadline: this.nextDeadline };
      }
    }
    const d = this.#call((c) => c.onEvent(name, data, big(now)));
    const directive = { restart: d.restart ?? null, nextDeadline: d.nextDeadline ?? null };
    this.nextDeadline = directive.nextDeadline;
    return directive;
  }

  /** Fires every timer due at `now`; returns the next deadline (BigInt) or null. */
  tick(now) {
    const next = this.#call((c) => c.tick(big(now))) ?? null;
    this.nextDeadline = next;
    return next;
  }
}

export { LOG_LEVELS };

// ---- The JSON-lines form of callbacks (the same bytes autoconfig-host prints) ----

const str = (s) => JSON.stringify(s);
const num = (n) => (n === null || n === undefined ? 'null' : String(n));

/** The ENV object of an add/update line as compact JSON, keys in the documented order. */
export function envJson(p) {
  const x = p.expiringSdkKey;
  return (
    `{"envId":${str(p.envId)},"envKey":${str(p.envKey)},"envName":${str(p.envName)},` +
    `"projKey":${str(p.projectKey)},"projName":${str(p.projectName)},"sdkKey":${str(p.sdkKey)},` +
    `"mobKey":${str(p.mobileKey)},"expiringSdkKey":${x ? str(x.key) : 'null'},` +
    `"expiresAt":${x ? num(x.expiresAt) : 'null'},"ttlMinutes":${num(p.defaultTtlMinutes)},` +
    `"secureMode":${p.secureMode ? 'true' : 'false'},"version":${num(p.version)}}`
  );
}

export const lines = {
  add: (p) => `{"op":"add","env":${envJson(p)}}`,
  update: (p) => `{"op":"update","env":${envJson(p)}}`,
  delete: (envId) => `{"op":"delete","envId":${str(envId)}}`,
  ready: () => '{"op":"ready"}',
  keyExpired: (envId, oldKey) => `{"op":"key-expired","envId":${str(envId)},"oldKey":${str(oldKey)}}`,
};

/**
 * A handler that turns every callback into its JSON line and passes it to `emit` (e.g. to
 * write it to stdout), and log lines to `log(level, message)`.
 */
export function jsonLinesHandler(emit, log = () => {}) {
  return {
    addEnvironment: (p) => emit(lines.add(p)),
    updateEnvironment: (p) => emit(lines.update(p)),
    deleteEnvironment: (id) => emit(lines.delete(id)),
    receivedAllEnvironments: () => emit(lines.ready()),
    keyExpired: (id, key) => emit(lines.keyExpired(id, key)),
    log: (level, message) => log(level, message),
  };
}
