// The Node host end to end: a real SSE server on 127.0.0.1 (node:http), the host as a child
// process, its stdout checked line by line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const HOST = fileURLToPath(new URL('../host.mjs', import.meta.url));
const KEY = 'rel-test-key-9876';

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
      envId: id, envKey: `key-${id}`, envName: `Name ${id}`, projKey: 'proj', projName: 'Project',
      sdkKey: `sdk-${id}`, mobKey: `mob-${id}`, expiringSdkKey: null, expiresAt: null,
      ttlMinutes: 0, secureMode: false, version, ...extra,
    },
  });
}

/** An SSE server; `script(n, req, res)` answers the n-th request (from 1). */
async function server(script) {
  const requests = [];
  const open = new Set();
  const srv = createServer((req, res) => {
    requests.push({ url: req.url, headers: req.headers });
    open.add(res);
    res.on('close', () => open.delete(res));
    script(requests.length, req, res);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    uri: `http://127.0.0.1:${srv.address().port}`,
    requests,
    async close() {
      for (const res of open) res.destroy();
      srv.closeAllConnections?.();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** Runs the host; resolves helpers to wait for stdout lines and to stop it. */
function runHost(uri, extraArgs = []) {
  const child = spawn(
    process.execPath,
    [HOST, '--stream-uri', `${uri}/`, '--initial-retry-delay', '50ms', '--log-level', 'debug', ...extraArgs],
    { env: { ...process.env, AUTO_CONFIG_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = [];
  let stderr = '';
  let buf = '';
  const waiters = [];
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
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  return {
    child,
    out,
    get stderr() {
      return stderr;
    },
    exited,
    waitLines(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (out.length >= n) {
            waiters.splice(waiters.indexOf(check), 1);
            clearTimeout(t);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${n} lines; got:\n${out.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const [code, signal] = await exited;
      return { code, signal };
    },
  };
}

const sse = (res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' });

test('put, patch, reconnect, fresh put: stdout lines, headers, Last-Event-ID', async () => {
  const put1 = { path: '/', data: { environments: { a: env('a', 1), b: env('b', 1) } } };
  const patch = { path: '/environments/a', data: env('a', 2, { envName: 'Renamed' }) };
  const put2 = { path: '/', data: { environments: { a: env('a', 2, { envName: 'Renamed' }), c: env('c', 1) } } };
  const srv = await server((n, req, res) => {
    sse(res);
    if (n === 1) {
      // A BOM, a comment, CRLF line ends, an id, a multi-line data field.
      res.write('\uFEFF: hello\r\n\r\n');
      // Pretty-printed JSON sent as one `data:` line per line (joined again with "\n").
      const data = JSON.stringify(put1, null, 1).split('\n').map((l) => `data: ${l}\r\n`).join('');
      const block = `event: put\r\nid: evt-1\r\n${data}\r\n`;
      // Sent in two pieces, split between the CR and the LF of a line end.
      const cut = block.indexOf('\r\n', 40) + 1;
      res.write(block.slice(0, cut));
      setTimeout(() => res.write(block.slice(cut)), 20);
      setTimeout(() => {
        res.write(`event: patch\ndata: ${JSON.stringify(patch)}\n\n`);
        res.write('event: reconnect\ndata: \n\n');
      }, 100);
    } else if (n === 2) {
      res.write(`event: put\rdata: ${JSON.stringify(put2)}\r\r`);
    }
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(7);
    // Give it a moment to show that nothing else arrives.
    await new Promise((r) => setTimeout(r, 200));
    const { code } = await host.stop();
    assert.equal(code, 0);
  } finally {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
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

test('401 at the first connection: exit 1 after exactly one request, nothing on stdout', async () => {
  const srv = await server((n, req, res) => {
    res.writeHead(401);
    res.end();
  });
  const host = runHost(srv.uri);
  try {
    const [code] = await host.exited;
    assert.equal(code, 1);
  } finally {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
    await srv.close();
  }
  assert.equal(srv.requests.length, 1);
  assert.deepEqual(host.out, []);
  assert.match(host.stderr, /invalid auto-configuration key/);
});

test('malformed data restarts the stream; a 503 is retried; a key expires on its timer', async () => {
  let soon;
  const srv = await server((n, req, res) => {
    if (n === 1) {
      sse(res);
      res.write('event: put\ndata: {"path": "/", "data": [not json\n\n');
    } else if (n === 2) {
      res.writeHead(503);
      res.end();
    } else if (n === 3) {
      // The old key expires 700 ms after the put is sent.
      soon = Date.now() + 700;
      const put = {
        path: '/',
        data: { environments: { a: env('a', 1, { sdkKey: { value: 'sdk-a', expiring: { value: 'old-a', timestamp: soon } } }) } },
      };
      sse(res);
      res.write(`event: put\ndata: ${JSON.stringify(put)}\n\n`);
      // Then stays open and quiet: the expiry must come from the host's own timer.
    }
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(3);
    const { code } = await host.stop();
    assert.equal(code, 0);
  } finally {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
    await srv.close();
  }
  assert.equal(srv.requests.length, 3);
  assert.deepEqual(host.out, [
    line('add', 'a', 1, { expiringSdkKey: 'old-a', expiresAt: soon }),
    '{"op":"ready"}',
    '{"op":"key-expired","envId":"a","oldKey":"old-a"}',
  ]);
  assert.ok(Date.now() >= soon);
});

test('a 200 that is not an event stream is retried, its body never read', async () => {
  const body = 'event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n';
  const srv = await server((n, req, res) => {
    res.writeHead(200, { 'content-type': n === 1 ? 'text/html' : 'text/event-stream' });
    if (n === 1) res.end(body);
    else res.write(body);
  });
  const host = runHost(srv.uri);
  try {
    await host.waitLines(1);
    assert.deepEqual(host.out, ['{"op":"ready"}']);
    assert.equal(srv.requests.length, 2);
    const { code } = await host.stop(); // stderr is complete once the process is gone
    assert.equal(code, 0);
    assert.match(host.stderr, /is not text\/event-stream/);
  } finally {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
    await srv.close();
  }
});
