// The I/O half of the stream client: it opens the requests a `StreamClient` asks for with
// Node's `fetch` (no redirects followed), reports their statuses, body bytes and ends, closes
// them when told to, and sleeps until the next deadline. Every decision (SSE, Last-Event-ID,
// retry:, backoff, redirects, status and content-type policy, size limit, read timeout) is the
// component's; nothing here keeps protocol state.

import http from 'node:http';
import https from 'node:https';

/** setTimeout holds at most ~24.8 days; a longer deadline just wakes early (harmless). */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The LEVELS a host prints, least severe first (`critical` prints as `error`). */
export const HOST_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/**
 * A logger writing `ISO-TIME LEVEL message` lines at `minLevel` and above.
 * @param {string} minLevel one of HOST_LEVELS
 * @param {(line: string) => void} write gets each line with its trailing newline
 * @returns {(level: string, message: string) => void}
 */
export function createLogger(minLevel, write) {
  const min = HOST_LEVELS.indexOf(minLevel);
  return (level, message) => {
    const l = level === 'critical' ? 'error' : level;
    const i = HOST_LEVELS.indexOf(l);
    if (i < min) return;
    write(`${new Date().toISOString()} ${l.toUpperCase().padEnd(5)} ${message}\n`);
  };
}

/** A one-line description of a fetch or body-read failure, for `onClosed`. */
export function describeFailure(e) {
  const cause = e?.cause;
  const text = cause?.message || cause?.code || e?.message || String(e);
  return String(text).replace(/\s+/g, ' ').slice(0, 200) || 'connection failed';
}

/**
 * The subset of `fetch` that `runStream` uses, over node:http and node:https: `GET` with these
 * headers, no redirect followed (a 3xx comes back as it is), no decompression (no
 * `Accept-Encoding` is sent), no connection pooling, and no timer of its own: the global `fetch`
 * (undici) keeps a timer ticking about twice a second while a response body is open, which wakes
 * an idle host for nothing (the component owns the read timeout). The response has `status`,
 * `headers.get(name)` and a `body` that is an async iterable of Uint8Array chunks with `cancel()`.
 * @param {string} url an http: or https: URL
 * @param {{headers?: Array<[string, string]>, signal?: AbortSignal}} [init]
 */
export function nodeFetch(url, init = {}) {
  const { headers = [], signal } = init;
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch (e) {
      reject(new TypeError(`invalid URL ${JSON.stringify(String(url).slice(0, 200))}`, { cause: e }));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) {
      reject(new TypeError(`unsupported protocol ${JSON.stringify(u.protocol)}`));
      return;
    }
    const fields = {}; // in order; node:http adds Host (and Connection) itself
    for (const [name, value] of headers) fields[name] = value;
    let req;
    try {
      req = mod.request(u, { method: 'GET', headers: fields, agent: false, signal });
    } catch (e) {
      reject(e); // e.g. a header value with a line break
      return;
    }
    req.on('error', reject);
    req.on('response', (res) => {
      // Errors reach the reader through the async iterator; this listener only keeps one that
      // comes while nobody iterates (after an abort, say) from being an uncaught exception.
      res.on('error', () => {});
      resolve({
        status: res.statusCode,
        headers: {
          get: (name) => {
            const v = res.headers[String(name).toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
        },
        body: {
          [Symbol.asyncIterator]: () => res[Symbol.asyncIterator](),
          cancel: async () => {
            res.destroy();
          },
        },
      });
    });
    req.end();
  });
}

/**
 * @typedef {object} RunHooks
 * @property {string} [userAgent] sent as `User-Agent` with every request
 * @property {(level: string, message: string) => void} [log]
 * @property {() => void} [beforeCall] before every call into the client
 * @property {(step: import('./autoconfig.mjs').Step | null) => void} [afterCall] after every call
 *   into the client, with the step it returned (null when it threw)
 * @property {AbortSignal} [signal] aborting it closes everything; the run then resolves with `{stop: null}`
 * @property {typeof fetch} [fetch]
 */

/**
 * Runs the stream client until it stops, the signal aborts, or a call fails.
 *
 * @param {import('./autoconfig.mjs').StreamClient} client
 * @param {import('./autoconfig.mjs').StreamOptions} options passed to `client.start`
 * @param {RunHooks} [hooks]
 * @returns {Promise<{stop: 'invalid-key' | null}>} rejects with the error of a failed call
 *   (StreamOptionsError from `start`, TrapError from a trap)
 */
export function runStream(client, options, hooks = {}) {
  const {
    userAgent, log = () => {}, beforeCall = () => {}, afterCall = () => {}, signal, fetch: fetchImpl = fetch,
  } = hooks;
  return new Promise((resolve, reject) => {
    /** The open request: {controller} or null. */
    let conn = null;
    let timer = null;
    let finished = false;

    const closeConn = () => {
      if (conn) {
        conn.controller.abort(new Error('closed by the stream client'));
        conn = null;
      }
    };
    const finish = (error, result) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      timer = null;
      closeConn();
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(result);
    };
    const onAbort = () => finish(null, { stop: null });

    /** One call into the client, then what its step says. */
    const feed = (call) => {
      if (finished) return;
      let step;
      beforeCall();
      try {
        step = call(BigInt(Date.now()));
      } catch (e) {
        afterCall(null);
        finish(e);
        return;
      }
      afterCall(step);
      apply(step);
    };

    const apply = (step) => {
      // `connect` never comes while a request is open (the component disconnects first), but
      // closing here too means a socket can never leak.
      if (step.disconnect || step.connect || step.stop) closeConn();
      if (step.stop) {
        finish(null, { stop: step.stop });
        return;
      }
      if (step.connect) open(step.connect);
      clearTimeout(timer);
      timer = null;
      if (step.nextDeadline !== null) {
        const wait = Math.min(Math.max(Number(step.nextDeadline) - Date.now(), 0), MAX_TIMEOUT);
        timer = setTimeout(() => {
          timer = null;
          feed((now) => client.onTimeout(now));
        }, wait);
      }
    };

    const open = (request) => {
      const c = { controller: new AbortController() };
      conn = c;
      read(c, request).catch((e) => finish(e));
    };

    /** Reads one request to its end, reporting everything while it is still the open one. */
    const read = async (c, request) => {
      const current = () => conn === c && !finished;
      const ended = (error) => {
        conn = null; // on-closed: it is no longer open
        feed((now) => client.onClosed(error, now));
      };
      const headers = userAgent ? [...request.headers, ['User-Agent', userAgent]] : request.headers;
      log('debug', `GET ${request.url}`);
      let res;
      try {
        res = await fetchImpl(request.url, { headers, redirect: 'manual', signal: c.controller.signal });
      } catch (e) {
        if (current()) ended(describeFailure(e));
        return;
      }
      if (!current()) {
        await res.body?.cancel().catch(() => {});
        return;
      }
      feed((now) => client.onResponse(res.status, res.headers.get('content-type'), res.headers.get('location'), now));
      if (!res.body) {
        if (current()) ended(null);
        return;
      }
      try {
        for await (const chunk of res.body) {
          if (!current()) return; // leaving the loop cancels the body
          feed((now) => client.onBody(chunk, now));
          if (!current()) return;
        }
      } catch (e) {
        if (current()) ended(describeFailure(e));
        return;
      }
      if (current()) ended(null);
    };

    if (signal?.aborted) {
      finish(null, { stop: null });
      return;
    }
    signal?.addEventListener('abort', onAbort);
    feed((now) => client.start(options, now));
  });
}
