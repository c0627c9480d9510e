// Type declarations of `relay-autoconfig/stream-runner` (lib/stream-runner.mjs), written by hand.
// test/types.test.mjs checks that they declare exactly the module's runtime exports.

import type { LogLevel, Step, StreamClient, StreamOptions } from './autoconfig.mjs';

/** The levels a host prints, least severe first (`critical` prints as `error`). */
export const HOST_LEVELS: readonly ['trace', 'debug', 'info', 'warn', 'error'];

/** A level a host prints at or above. */
export type HostLevel = (typeof HOST_LEVELS)[number];

/**
 * A logger writing `ISO-TIME LEVEL message` lines at `minLevel` and above.
 * @param write gets each line with its trailing newline
 */
export function createLogger(minLevel: HostLevel, write: (line: string) => void): (level: LogLevel, message: string) => void;

/** A one-line description of a fetch or body-read failure, for `onClosed`. */
export function describeFailure(e: unknown): string;

/** What {@link nodeFetch} resolves with: the part of a fetch `Response` that `runStream` reads. */
export interface NodeFetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  body: AsyncIterable<Uint8Array> & { cancel(): Promise<void> };
}

/**
 * The subset of `fetch` that {@link runStream} uses, over node:http/https: `GET` with these
 * headers, no redirect followed, no decompression, no pooling, and no timer of its own (the global
 * `fetch` keeps one ticking about twice a second while a body is open). Give it as `hooks.fetch`.
 */
export function nodeFetch(
  url: string,
  init?: { headers?: Array<[string, string]> | undefined; signal?: AbortSignal | undefined },
): Promise<NodeFetchResponse>;

/** Hooks and I/O settings of {@link runStream}. */
export interface RunHooks {
  /** Sent as `User-Agent` with every request. */
  userAgent?: string | undefined;
  log?: ((level: LogLevel, message: string) => void) | undefined;
  /** Before every call into the client. */
  beforeCall?: (() => void) | undefined;
  /** After every call into the client, with the step it returned (`null` when it threw). */
  afterCall?: ((step: Step | null) => void) | undefined;
  /** Aborting it closes everything; the run then resolves with `{ stop: null }`. */
  signal?: AbortSignal | undefined;
  /** The `fetch` to use (default: the global one; {@link nodeFetch} sets no timers). */
  fetch?: typeof fetch | typeof nodeFetch | undefined;
}

/**
 * Runs the stream client with `fetch` and timers until it stops (`{ stop: 'invalid-key' }`), the
 * signal aborts (`{ stop: null }`) or a call fails: it rejects with that error
 * (`StreamOptionsError` from `start`, `TrapError` from a trap; run it again with `priorFailures`
 * one higher and the latest `lastEventId`, which `afterCall` sees).
 */
export function runStream(client: StreamClient, options: StreamOptions, hooks?: RunHooks): Promise<{ stop: 'invalid-key' | null }>;
