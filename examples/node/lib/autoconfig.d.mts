// Type declarations of `relay-autoconfig` (lib/autoconfig.mjs), written by hand.
// test/types.test.mjs checks that they declare exactly the module's runtime exports, and
// test-package.sh compiles a program against them with `tsc --strict` (and checks that wrong
// calls are refused).

import type { ImportObject, Root } from '../out/relay_autoconfig.js';

/** A `wasi:logging` level, least severe first (see {@link LOG_LEVELS}). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';

/**
 * A u64 argument: a bigint, or a safe non-negative integer number. Checked at run time before the
 * component is entered: a fraction, `NaN`, a negative or an unsafe number throws
 * `TypeError`/`RangeError` and changes nothing.
 */
export type U64 = bigint | number;

/** The default limit on event data (16 MiB), the same as the component's. */
export const DEFAULT_MAX_MESSAGE_BYTES: bigint;
/** The default limit on remembered deletions (100,000), as in the component. */
export const DEFAULT_MAX_TOMBSTONES: number;
/** The default limit on the estimated state size (192 MiB), as in the component. */
export const DEFAULT_MAX_STATE_BYTES: bigint;
/** The WIT version of the interfaces this library drives. */
export const WIT_VERSION: '0.2.0';
/** The transpiled component `Component.load()` uses by default: the package's own `out/`. */
export const DEFAULT_OUT_DIR: string;
/** The `wasi:logging` levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[];

/**
 * A loaded (transpiled and compiled) component. Load once, then create any number of
 * independent clients from it.
 */
export class Component {
  /**
   * Loads the transpiled component from `outDir` (default: the package's own `out/`).
   * Rejects with an `Error` naming the directory when it holds no transpiled component.
   */
  static load(outDir?: string, options?: LoadOptions): Promise<Component>;
  /**
   * Compiles the core modules of the transpiled component in `outDir` (every `*.wasm`) with
   * `WebAssembly.compile` (V8's background threads): start it early, then give the result to
   * {@link Component.load} as `coreModules`, in this thread or posted to a worker.
   */
  static compileCoreModules(outDir?: string): Promise<Map<string, WebAssembly.Module>>;
  private constructor();
  /** The directory it was loaded from. */
  readonly outDir: string;
  /**
   * Low level: instantiates the component with a jco import object and returns all its exports
   * (`client`, `streamClient` and `state`), unchecked and unwrapped.
   */
  instantiateWith(imports: ImportObject): Root;
}

/** Options of {@link Component.load}. */
export interface LoadOptions {
  /** Core modules compiled already ({@link Component.compileCoreModules}), by file name. */
  coreModules?: Map<string, WebAssembly.Module> | undefined;
}
/**
 * The guest trapped (a bug, or a handler callback that threw): the client dropped that instance
 * with its state, called the handler's `reset` (if any), and the next call runs on a fresh one.
 */
export class TrapError extends Error {
  name: 'TrapError';
}

/** `StreamClient.start` refused an option (an empty key, a bad stream URI, ...); nothing changed. */
export class StreamOptionsError extends Error {
  name: 'StreamOptionsError';
}

/**
 * `restore` refused the snapshot (truncated, corrupt, foreign, of a newer format version,
 * inconsistent, or over {@link MAX_SNAPSHOT_BYTES}); the message says which. The state is
 * unchanged, no callback was made, and the instance is fine.
 */
export class RestoreError extends Error {
  name: 'RestoreError';
}

/**
 * The largest snapshot `restore` copies into the component (256 MiB: the default state limit with
 * room to spare, and the largest state file `autoconfig-host` reads). A larger one is refused
 * with {@link RestoreError} before the component is entered.
 */
export const MAX_SNAPSHOT_BYTES: number;

/** Options of `restore`. */
export interface RestoreOptions {
  /**
   * Tell the handler: `addEnvironment` for every restored environment (by ascending env id), then
   * `receivedAllEnvironments` (batched: as the call's batch). Default `false`: silent.
   */
  announce?: boolean | undefined;
}

/** What `restore` brought back (the WIT `restored` record). */
export interface Restored {
  /** Live environments. */
  environments: number;
  /** Remembered deletions (tombstones). */
  tombstones: number;
  /** Expiring keys whose `keyExpired` is still to come. */
  pendingExpiries: number;
  /** When `tick` / `onTimeout` is next needed (ms since the Unix epoch), or `null`: no timer. */
  nextDeadline: bigint | null;
  /** The stream's last event id in the snapshot, or `null`. */
  lastEventId: string | null;
}

/**
 * A u64 from a bigint or a safe non-negative integer number.
 * @throws {TypeError | RangeError} naming `name`
 */
export function u64(v: unknown, name: string): bigint;

/** Settings of the state machine. Every field is optional; omitted ones take the default. */
export interface Settings {
  /** Event data longer than this is malformed (default 16 MiB). */
  maxMessageBytes?: U64 | undefined;
  /** The least severe level the component sends to `log` (default `'debug'`: everything). */
  logLevel?: LogLevel | undefined;
  /** Deleted IDs remembered, oldest forgotten first (default 100,000; at most 2^32 - 1). */
  maxTombstones?: number | undefined;
  /** The estimated state size limit (default 192 MiB). */
  maxStateBytes?: U64 | undefined;
}

/** The settings in force: the WIT `settings` record. */
export interface ResolvedSettings {
  maxMessageBytes: bigint;
  logLevel: LogLevel;
  maxTombstones: number;
  maxStateBytes: bigint;
}

/** Checks `s` and fills in the defaults. @throws {TypeError | RangeError} */
export function settings(s?: Settings): ResolvedSettings;

/** An old SDK key that is still valid until `expiresAt`. */
export interface ExpiringKey {
  key: string;
  /** Wall-clock ms since the Unix epoch; absent when the stream gave no expiry (timestamp 0). */
  expiresAt?: bigint | undefined;
}

/** One environment, as the handler receives it (the WIT `environment-params` record). */
export interface EnvironmentParams {
  envId: string;
  envKey: string;
  envName: string;
  projectKey: string;
  projectName: string;
  sdkKey: string;
  mobileKey: string;
  /** The previous SDK key while it is still valid. */
  expiringSdkKey?: ExpiringKey | undefined;
  defaultTtlMinutes: bigint;
  secureMode: boolean;
  version: bigint;
}

/**
 * The callbacks. They run synchronously inside the client's calls; one that throws kills the
 * instance (the call throws {@link TrapError}).
 */
export interface Handler {
  addEnvironment: (env: EnvironmentParams) => void;
  updateEnvironment: (env: EnvironmentParams) => void;
  deleteEnvironment: (envId: string) => void;
  /** After every valid `put`: the environments added or updated so far are the full list. */
  receivedAllEnvironments: () => void;
  /** The old SDK key `oldKey` of `envId` has expired. */
  keyExpired: (envId: string, oldKey: string) => void;
  /** A log line: keys in messages are masked to their last 4 characters. `context` is the component's (or `'host'`). */
  log?: ((level: LogLevel, message: string, context: string) => void) | undefined;
  /**
   * The component trapped and its state is gone: what follows starts from nothing (keep what is
   * added or updated until the next `receivedAllEnvironments`, then drop every other environment).
   */
  reset?: (() => void) | undefined;
}

/**
 * The batched form of the callbacks (the component's `batch` export): a handler with `batch`
 * gets no per-callback calls. After every call that may make callbacks (`onEvent`, `tick`,
 * `restore`, every `StreamClient` call) the client takes that call's callbacks from the component as one string
 * and passes it to `batch` once, before the call returns (not at all when there were none): one
 * JSON object per line, each line ending with `\n`, exactly the bytes {@link jsonLinesHandler}
 * and `autoconfig-host` write ({@link parseBatch} parses it). A call that traps delivers nothing
 * of that call (`reset`, then {@link TrapError}, as per callback); a `batch` or `logs` that throws
 * is a trap too.
 */
export interface BatchHandler {
  /** One call's callbacks as JSON lines (never empty). */
  batch: (lines: string) => void;
  /**
   * When given, the log lines are batched too: one call's log lines, `LEVEL MESSAGE\n` each
   * ({@link parseLogs}), passed before `batch`. Without it they come one by one to `log`.
   */
  logs?: ((lines: string) => void) | undefined;
  /** A log line (one by one, during the call), and the client's own lines (context `'host'`). */
  log?: ((level: LogLevel, message: string, context: string) => void) | undefined;
  /** The component trapped and its state is gone (see {@link Handler.reset}). */
  reset?: (() => void) | undefined;
}
/** Why the stream must be restarted. */
export type RestartReason = 'reconnect-requested' | 'malformed-data';

/** What `AutoconfigClient.onEvent` asks of the host. */
export interface Directive {
  /** Restart the stream: promptly (`reconnect-requested`) or with backoff (`malformed-data`). */
  restart: RestartReason | null;
  /** Call `tick` at this wall-clock time (ms since the Unix epoch), or `null`: no timer. */
  nextDeadline: bigint | null;
}

/**
 * One running instance of the component's `client` export (for hosts with their own SSE stack)
 * and the handler that receives its callbacks. After a trap the call throws {@link TrapError}
 * and the next call starts a fresh instance with empty state: restart the stream.
 */
export class AutoconfigClient {
  constructor(component: Component, handler: Handler | BatchHandler, options?: Settings);
  /** The next deadline as of the last call (ms since the Unix epoch), or `null`. */
  readonly nextDeadline: bigint | null;
  /** The settings in force. */
  readonly settings: ResolvedSettings;
  /** Replaces the settings (kept across instance restarts). */
  configure(s?: Settings): void;
  /**
   * Feeds one SSE event (`put`, `patch`, `delete`, `reconnect`; others are ignored with a warning).
   * Does not fire due timers: re-arm your timer with `nextDeadline` after every call.
   * @param now wall-clock ms since the Unix epoch
   */
  onEvent(name: string, data: string, now: U64): Directive;
  /**
   * Fires every expiry timer due at `now` (early, late or twice is harmless).
   * @returns the next deadline: re-arm your timer with it (`null`: none)
   */
  tick(now: U64): bigint | null;
  /**
   * The whole state (environments, deletions, pending expiries) as bytes, in the component's
   * documented snapshot format. It holds SDK keys: store it where only the proxy can read it.
   */
  snapshot(): Uint8Array;
  /**
   * Replaces the whole state with a snapshot's (the settings are kept) and sets `nextDeadline` to
   * the restored one: re-arm your timer with it.
   * @param snapshot bytes `snapshot()` gave (a `Buffer` is fine)
   * @throws {RestoreError} when the snapshot is refused (nothing changed)
   */
  restore(snapshot: Uint8Array, options?: RestoreOptions): Restored;
}

/** Options of the stream client (`StreamClient.start`). */
export interface StreamOptions {
  /** The auto-configuration key, sent raw in `Authorization`. */
  key: string;
  /** Default `'https://stream.launchdarkly.com'`. */
  streamUri?: string | undefined;
  /** Default 1000 (the component raises it to at least 100). */
  initialRetryDelayMs?: U64 | undefined;
  /** Default 300000 (5 min); 0 is refused. */
  readTimeoutMs?: U64 | undefined;
  /** Seeds the backoff jitter; default: random. */
  jitterSeed?: U64 | undefined;
  /** Resume from this event id. */
  lastEventId?: string | null | undefined;
  /** How many times the host already replaced the component (default 0). */
  priorFailures?: number | undefined;
}

/** The WIT `stream-options` record: {@link StreamOptions} checked, with the defaults filled in. */
export interface ResolvedStreamOptions {
  key: string;
  streamUri: string;
  initialRetryDelayMs: bigint;
  readTimeoutMs: bigint;
  jitterSeed: bigint;
  lastEventId: string | undefined;
  priorFailures: number;
}

/** One HTTP request to open: `GET url` with exactly these headers, in order; never follow redirects. */
export interface StreamRequest {
  url: string;
  headers: Array<[name: string, value: string]>;
}

/** The WIT name of {@link StreamRequest}. */
export type Request = StreamRequest;

/** Why the stream client stopped for good. */
export type StopReason = 'invalid-key';

/** What to do after a `StreamClient` call, in field order. */
export interface Step {
  /** Close the open request. */
  disconnect: boolean;
  /** Open this request now. */
  connect: StreamRequest | null;
  /** Stop for good. */
  stop: StopReason | null;
  /** Call `onTimeout` at this wall-clock time (ms since the Unix epoch). */
  nextDeadline: bigint | null;
  /**
   * The stream's last event id when this call changed it (`''` when an empty `id:` cleared it),
   * else `null`: pass the latest as `lastEventId` when starting a replacement after a trap.
   */
  lastEventId: string | null;
}

/** A random u64 for `jitterSeed`. */
export function randomSeed(): bigint;

/** Checks `o` and fills in the defaults. @throws {TypeError | RangeError} */
export function streamOptions(o: StreamOptions): ResolvedStreamOptions;

/**
 * The component's sans-IO stream client (the `stream-client` export): SSE, Last-Event-ID,
 * `retry:`, backoff with jitter, redirects, status, content-type and size policies and the read
 * timeout all run in the component; the host only does I/O (see `relay-autoconfig/stream-runner`).
 * After a trap (the call throws {@link TrapError}) call `start` again with `priorFailures` one
 * higher and the latest `lastEventId`.
 */
export class StreamClient {
  constructor(component: Component, handler: Handler | BatchHandler, options?: Settings);
  /** The settings in force. */
  readonly settings: ResolvedSettings;
  /** Replaces the settings (kept across instance restarts). */
  configure(s?: Settings): void;
  /**
   * Starts (or restarts) the client: normally the step says `connect` at once.
   * @throws {StreamOptionsError} when the component refuses an option (nothing changed)
   */
  start(options: StreamOptions, now: U64): Step;
  /** The open request got its response headers (`status` an integer in [0, 65535]). */
  onResponse(status: number, contentType: string | null | undefined, location: string | null | undefined, now: U64): Step;
  /** The next bytes of the open response's body (any size, split anywhere). */
  onBody(chunk: Uint8Array, now: U64): Step;
  /** The open request ended: `error` null for a clean end of the body, else a short description. */
  onClosed(error: string | null | undefined, now: U64): Step;
  /** `nextDeadline` passed (early or late is harmless). */
  onTimeout(now: U64): Step;
  /**
   * The whole state (environments, deletions, pending expiries and the stream's last event id) as
   * bytes, in the component's documented snapshot format. It holds SDK keys: store it where only
   * the proxy can read it.
   */
  snapshot(): Uint8Array;
  /**
   * Replaces the whole state with a snapshot's (the settings are kept). Restore before the first
   * `start`: a `start` without `lastEventId` then resumes from `restored.lastEventId` (a client
   * already started keeps its stream's own event id). The restored expiry timers are in the next
   * step's `nextDeadline`; restored into a running client, call `onTimeout` at
   * `restored.nextDeadline` if that is earlier than the deadline you are waiting for.
   * @param snapshot bytes `snapshot()` gave (a `Buffer` is fine)
   * @throws {RestoreError} when the snapshot is refused (nothing changed)
   */
  restore(snapshot: Uint8Array, options?: RestoreOptions): Restored;
}

/**
 * The JSON form of a value the component gives, as {@link jsonReplacer} writes it: a `bigint`
 * (u64/s64) is a `number` and an optional field (an `option` that is `none`) is present and
 * `null`. Derived from the record types: it names no field of its own.
 */
export type JsonForm<T> = T extends bigint
  ? number
  : T extends object
    ? { -readonly [K in keyof T]-?: undefined extends T[K] ? JsonForm<Exclude<T[K], undefined>> | null : JsonForm<T[K]> }
    : T;

/**
 * The ENV object of an add/update line: {@link EnvironmentParams} (the WIT `environment-params`,
 * camelCase names, in WIT order) in its JSON form, e.g. `expiringSdkKey: {key, expiresAt} | null`.
 */
export type EnvironmentJson = JsonForm<EnvironmentParams>;

/** One line of `autoconfig-host` (and of {@link jsonLinesHandler}, and the hosts), parsed. */
export type CallLine =
  | { op: 'add' | 'update'; env: EnvironmentJson }
  | { op: 'delete'; envId: string }
  | { op: 'ready' }
  | { op: 'key-expired'; envId: string; oldKey: string }
  | { op: 'reset' };

/**
 * The `JSON.stringify` replacer that gives a record the component returned its JSON form
 * ({@link JsonForm}): `bigint` to a number (exact on Node 21+, which has `JSON.rawJSON`; on Node 20
 * exact up to 2^53), `undefined` to `null`.
 */
export function jsonReplacer(key: string, value: unknown): unknown;

/**
 * The ENV object of an add/update line as compact JSON (the bytes `autoconfig-host` prints):
 * `JSON.stringify(p, jsonReplacer)`. Give it the record as the handler got it (every field
 * present; `undefined` for `none`).
 */
export function envJson(p: EnvironmentParams): string;

/** Each callback as its JSON line (without the newline), as `autoconfig-host` prints it. */
export const lines: {
  readonly add: (p: EnvironmentParams) => string;
  readonly update: (p: EnvironmentParams) => string;
  readonly delete: (envId: string) => string;
  readonly ready: () => string;
  readonly keyExpired: (envId: string, oldKey: string) => string;
};

/**
 * A handler that turns every callback into its JSON line and passes it to `emit` (e.g. to write
 * it to stdout), and log lines to `log(level, message)`.
 */
export function jsonLinesHandler(
  emit: (line: string) => void,
  log?: (level: LogLevel, message: string) => void,
): Handler & { log: (level: LogLevel, message: string, context: string) => void };
/**
 * One batch (the text a {@link BatchHandler}'s `batch` gets) as one object per callback, in order.
 * u64/s64 fields are numbers (exact up to 2^53). `''` gives `[]`.
 * @throws {TypeError} when `text` is not a string; {SyntaxError} when it is not JSON lines
 */
export function parseBatch(text: string): Array<Exclude<CallLine, { op: 'reset' }>>;
/** The levels a batched log line starts with. */
export const LOG_LINE_LEVELS: readonly ('debug' | 'info' | 'warn' | 'error')[];
/**
 * Batched log lines (the text a {@link BatchHandler}'s `logs` gets: `LEVEL MESSAGE\n` each) as
 * `[level, message]` pairs, in order (a line break in a message stays written as `\n`).
 * @throws {TypeError} when `text` is not a string; {SyntaxError} on a line without a known level
 */
export function parseLogs(text: string): Array<['debug' | 'info' | 'warn' | 'error', string]>;
