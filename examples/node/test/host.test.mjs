// host.mjs end to end on real sockets: an HTTP server on 127.0.0.1 (node:http), the host as a
// child process, its stdout checked line by line. The component decides everything (SSE, backoff,
// redirects, statuses); these tests show that the host does its I/O faithfully. No assertion on
// elapsed time; every wait is bounded; every process started here is killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { putJson } from '../lib/bench-data.mjs';

const HOST = fileURLToPath(new URL('../host.mjs', import.meta.url));
const KEY = 'rel-test-key-9876';
const WAIT_MS = 15_000;
const T = { timeout: 60_000 };

function env(id, version, extra = {}) {
  return {
    envId: id, envKey: `key-${id}`, envName: `Name ${id}`, projKey: 'proj', projName: 'Project',
    sdkKey: { value: `sdk-${id}` }, mobKey: `mob-${id}`, defaultTtl: 0, secureMode: false, version,
    ...extra,
  };
}

function line(op, id, version, extra = {}) {
  return JSON.stringify({
    op,
    env: {
      envId: id, envKey: `key-${id}`, envName: `Name ${id}`, projectKey: 'proj', projectName: 'Project',
      sdkKey: `sdk-${id}`, mobileKey: `mob-${id}`, expiringSdkKey: null, defaultTtlMinutes: 0,
      secureMode: false, version, ...extra,
    },
  });
}

/** An HTTP server (on `port`, or any free one); `script(n, req, res)` answers the n-th request (from 1). */
async function server(script, port = 0) {
  const requests = [];
  const open = new Set();
  const waiters = new Set();
  const srv = createServer((req, res) => {
    requests.push({ url: req.url, headers: req.headers });
    open.add(res);
    res.on('close', () => open.delete(res));
    script(requests.length, req, res);
    for (const w of [...waiters]) w();
  });
  srv.listen(port, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: srv.address().port,
    uri: `http://127.0.0.1:${srv.address().port}`,
    requests,
    /** Resolves once `n` requests have arrived. */
    waitRequests(n, timeoutMs = WAIT_MS) {
      return waitFor(() => requests.length >= n, waiters, timeoutMs, () => `${n} requests (got ${requests.length})`);
    },
    async close() {
      for (const res of open) res.destroy();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** Resolves when `pred()` holds; `waiters` get a check function to call on every change. */
function waitFor(pred, waiters, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pred()) return;
      waiters.delete(check);
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

/** Runs host.mjs; helpers wait for stdout lines and stop it. */
function runHost(uri, extraArgs = [], { key = KEY } = {}) {
  const args = [HOST, '--initial-retry-delay', '50ms', '--log-level', 'debug', ...extraArgs];
  if (uri !== null) args.push('--stream-uri', `${uri}/`);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AUTO_CONFIG_KEY: key ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = [];
  let stderr = '';
  let buf = '';
  const waiters = new Set();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      out.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    for (const w of [...waiters]) w();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const w of [...waiters]) w();
  });
  const exited = once(child, 'exit');
  let exit = null;
  const timedExit = (timeoutMs) => {
    exit ??= exited;
    return Promise.race([
      exit,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`the host did not exit within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs).unref(),
      ),
    ]);
  };
  return {
    child,
    out,
    get stderr() {
      return stderr;
    },
    /** Resolves with [code, signal] when the host exits by itself. */
    exited: (timeoutMs = WAIT_MS) => timedExit(timeoutMs),
    waitLines(n, timeoutMs = WAIT_MS) {
      return waitFor(() => out.length >= n, waiters, timeoutMs, () => `${n} lines; got:\n${out.join('\n')}\nstderr:\n${stderr}`);
    },
    waitStderr(pattern, timeoutMs = WAIT_MS) {
      return waitFor(() => pattern.test(stderr), waiters, timeoutMs, () => `${pattern} on stderr; got:\n${stderr}`);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = await timedExit(WAIT_MS);
      return { code, signal: sig };
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

const sse = (res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' });

test('a 200 event stream: put, patch, reconnect, fresh put; headers and Last-Event-ID; SIGTERM exits 0', T, async () => {
  const put1 = { path: '/', data: { environments: { a: env('a', 1), b: env('b', 1) } } };
  const patch = { path: '/environments/a', data: env('a', 2, { envName: 'Renamed' }) };
  const put2 = { path: '/', data: { environments: { a: env('a', 2, { envName: 'Renamed' }), c: env('c', 1) } } };
  const srv = await server((n, req, res) => {
    sse(res);
    if (n === 1) {
      // Split between the CR and the LF of a line end, and inside a UTF-8 character.
      const block = Buffer.from(`\uFEFF: hi\r\n\r\nevent: put\r\nid: evt-1\r\ndata: ${JSON.stringify(put1)}\r\n\r\n`);
      const cut = block.indexOf('\r\n', 30) + 1;
      res.write(block.subarray(0, 2));
      setTimeout(() => res.write(block.subarray(2, cut)), 20);
      setTimeout(() => res.write(block.subarray(cut)), 40);
      setTimeout(() => res.write(`event: patch\ndata: ${JSON.stringify(patch)}\n\nevent: reconnect\ndata: \n\n`), 100);
    } else if (n === 2) {
      res.write(`event: put\rdata: ${JSON.stringify(put2)}\r\r`);
    }
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(7);
    const { code } = await host.stop();
    assert.equal(code, 0);
  } finally {
    host.kill();
    await srv.close();
  }
  assert.deepEqual(host.out, [
    line('add', 'a', 1),
    line('add', 'b', 1),
    '{"op":"ready"}',
    line('update', 'a', 2, { envName: 'Renamed' }),
    line('add', 'c', 1),
    '{"op":"delete","envId":"b"}',
    '{"op":"ready"}',
  ], host.stderr);
  assert.equal(srv.requests.length, 2);
  for (const r of srv.requests) {
    assert.equal(r.url, '/relay_auto_config');
    assert.equal(r.headers.authorization, KEY);
    assert.equal(r.headers.accept, 'text/event-stream');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(r.headers['user-agent'], /^relay-autoconfig-node\//);
  }
  assert.equal(srv.requests[0].headers['last-event-id'], undefined);
  assert.equal(srv.requests[1].headers['last-event-id'], 'evt-1');
  assert.ok(!host.stderr.includes(KEY), 'the key must not be logged');
});

test('401 at the first connection: exit 1 after exactly one request, nothing on stdout', T, async () => {
  const srv = await server((n, req, res) => {
    res.writeHead(401);
    res.end();
  });
  const host = runHost(srv.uri);
  try {
    const [code] = await host.exited();
    assert.equal(code, 1);
  } finally {
    host.kill();
    await srv.close();
  }
  assert.equal(srv.requests.length, 1);
  assert.deepEqual(host.out, []);
  assert.match(host.stderr, /invalid auto-configuration key/);
});

test('a same-origin redirect is followed with the same headers', T, async () => {
  const srv = await server((n, req, res) => {
    if (n === 1) {
      res.writeHead(307, { Location: '/elsewhere/relay_auto_config?x=1' });
      res.end('moved');
    } else {
      sse(res);
      res.write('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n');
    }
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(1);
    assert.deepEqual(host.out, ['{"op":"ready"}']);
    assert.deepEqual(srv.requests.map((r) => r.url), ['/relay_auto_config', '/elsewhere/relay_auto_config?x=1']);
    assert.equal(srv.requests[1].headers.authorization, KEY);
    assert.equal((await host.stop()).code, 0);
  } finally {
    host.kill();
    await srv.close();
  }
});

test('a redirect to another origin is not followed by the host: the key never leaves', T, async () => {
  const other = await server((n, req, res) => {
    sse(res);
  });
  const srv = await server((n, req, res) => {
    res.writeHead(302, { Location: `${other.uri}/relay_auto_config` });
    res.end();
  });
  const host = runHost(srv.uri);
  try {
    // The component answers the redirect with a backoff and a retry of the original URL.
    await srv.waitRequests(2);
    assert.equal(other.requests.length, 0);
    assert.deepEqual(host.out, []);
    assert.equal((await host.stop()).code, 0);
  } finally {
    host.kill();
    await srv.close();
    await other.close();
  }
  assert.equal(other.requests.length, 0);
  assert.match(host.stderr, /not following the redirect/);
});

test('malformed data, a 503 and a 200 that is not an event stream are retried; a key expires on its timer', T, async () => {
  let soon;
  const srv = await server((n, req, res) => {
    if (n === 1) {
      sse(res);
      res.write('event: put\ndata: {"path": "/", "data": [not json\n\n');
    } else if (n === 2) {
      res.writeHead(503);
      res.end();
    } else if (n === 3) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n');
    } else if (n === 4) {
      // The old key expires 700 ms after the put is sent; the stream then stays quiet, so the
      // expiry can only come from the host sleeping until the component's deadline.
      soon = Date.now() + 700;
      const put = {
        path: '/',
        data: { environments: { a: env('a', 1, { sdkKey: { value: 'sdk-a', expiring: { value: 'old-a', timestamp: soon } } }) } },
      };
      sse(res);
      res.write(`event: put\ndata: ${JSON.stringify(put)}\n\n`);
    }
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(3);
    assert.equal((await host.stop()).code, 0);
  } finally {
    host.kill();
    await srv.close();
  }
  assert.equal(srv.requests.length, 4);
  assert.deepEqual(host.out, [
    line('add', 'a', 1, { expiringSdkKey: { key: 'old-a', expiresAt: soon } }),
    '{"op":"ready"}',
    '{"op":"key-expired","envId":"a","oldKey":"old-a"}',
  ]);
  assert.ok(Date.now() >= soon);
});

test('a silent stream is dropped after --read-timeout and reconnected', T, async () => {
  const srv = await server((n, req, res) => {
    sse(res);
    if (n === 1) res.write('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n');
  });
  const host = runHost(srv.uri, ['--read-timeout', '300ms']);
  try {
    await srv.waitRequests(2);
    assert.deepEqual(host.out, ['{"op":"ready"}']);
    assert.equal((await host.stop('SIGINT')).code, 0);
  } finally {
    host.kill();
    await srv.close();
  }
});

test('a refused connection is reported and retried until the server is there', T, async () => {
  // A port that was free a moment ago: the first attempts are refused.
  const probe = await server(() => {});
  const { uri, port } = probe;
  await probe.close();
  const host = runHost(uri);
  let srv = null;
  try {
    await host.waitStderr(/ECONNREFUSED/);
    srv = await server((n, req, res) => {
      sse(res);
      res.write('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n');
    }, port);
    await host.waitLines(1);
    assert.deepEqual(host.out, ['{"op":"ready"}']);
    assert.equal((await host.stop()).code, 0);
  } finally {
    host.kill();
    await srv?.close();
  }
});

test('a call over --call-timeout gets the worker replaced: a reset line, priorFailures raised, the last event id kept', T, async () => {
  // A put far too big for a 100 ms budget stands in for a runaway guest: 50,000 environments
  // (14 MB, under the 16 MiB limit) take about 330 ms in one call (measured, optimised wasm,
  // batched); the small calls before it take well under 1 ms.
  const big = `event: put\ndata: ${putJson(50_000)}\n\n`;
  let first = null;
  const srv = await server((n, req, res) => {
    sse(res);
    if (n === 1) {
      first = res;
      res.write('id: evt-9\nevent: put\ndata: {"path":"/","data":{"environments":{}}}\n\n');
    } else {
      res.write(big);
    }
  });
  const host = runHost(srv.uri, ['--call-timeout', '100ms']);
  try {
    await host.waitLines(1); // the small put, with its id, went through
    first.write(big);
    await srv.waitRequests(2);
    await host.waitStderr(/a component call ran longer than 100 ms; replacing the component \(failure 1\)/);
    // The replacement started with priorFailures 1: it waits as after a failure before connecting.
    await host.waitStderr(/failure 1\)[^]*Reconnecting in/);
    assert.equal((await host.stop()).code, 0);
  } finally {
    host.kill();
    await srv.close();
  }
  // The small put's lines, then a reset per replaced worker (the big put never completes).
  assert.equal(host.out[0], '{"op":"ready"}');
  assert.ok(host.out.length >= 2, host.out.join('\n'));
  assert.deepEqual(new Set(host.out.slice(1)), new Set(['{"op":"reset"}']));
  assert.equal(srv.requests[0].headers['last-event-id'], undefined);
  assert.equal(srv.requests[1].headers['last-event-id'], 'evt-9');
});

test('bad usage exits 2 with a one-line reason', T, async () => {
  const cases = [
    [['--read-timeout', 'soon'], /--read-timeout: "soon" is invalid: use a duration like 500ms, 1.5s or 1m30s/],
    [['--initial-retry-delay=-5s'], /--initial-retry-delay: "-5s" is negative/],
    [['--read-timeout', '99999999999999h'], /--read-timeout: "99999999999999h" is out of range/],
    [['--read-timeout'], /argument missing/],
    [['--call-timeout', '0ms'], /--call-timeout: "0ms" is shorter than 1ms/],
    [['--call-timeout', '0.5ms'], /--call-timeout: "0.5ms" is shorter than 1ms/],
    [['--log-level', 'loud'], /--log-level: one of/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--stream-uri', 'ftp://example.com'], /stream-uri "ftp:\/\/example.com" is not a valid stream URI/],
    [['--component', '/nonexistent'], /--component: no transpiled component in \/nonexistent/],
  ];
  for (const [args, pattern] of cases) {
    const host = runHost(null, args);
    try {
      const [code] = await host.exited();
      assert.equal(code, 2, `${args.join(' ')}: ${host.stderr}`);
      assert.match(host.stderr, pattern);
      assert.match(host.stderr, /^error: [^\n]+\nusage: node host\.mjs [^\n]+\n$/);
    } finally {
      host.kill();
    }
  }
  const noKey = runHost(null, [], { key: null });
  try {
    assert.equal((await noKey.exited())[0], 2);
    assert.match(noKey.stderr, /no key: give --key or set AUTO_CONFIG_KEY/);
  } finally {
    noKey.kill();
  }
});

test('a closed stdout (the reader went away) is exit 3 with one line, not a stack trace', T, async () => {
  const srv = await server((n, req, res) => {
    sse(res);
    res.write(`event: put\ndata: ${JSON.stringify({ path: '/', data: { environments: { a: env('a', 1), b: env('b', 1) } } })}\n\n`);
  });
  const host = runHost(srv.uri);
  host.child.stdout.destroy(); // before the first line
  try {
    const [code] = await host.exited();
    assert.equal(code, 3, host.stderr);
  } finally {
    host.kill();
    await srv.close();
  }
  assert.match(host.stderr, /cannot write to stdout/);
  assert.doesNotMatch(host.stderr, /\n\s+at /, 'no stack trace');
});
