// The host end to end on loopback: a local SSE server on 127.0.0.1 sends a put of N environments,
// then N patches (each raising one environment to version 2) in one burst, to `host.mjs` run as
// a child process; the clock runs from the first byte written to the JSON line that ends each
// phase (`ready`, then the N-th `update`) read from the host's stdout. Every wait is bounded.
//
//   node bench-host.mjs [--host PATH] [--component OUT_DIR] [--envs N] [--runs R] [--log-level L]
//
// --host runs another host.mjs with the same CLI (e.g. an older version) for a comparison.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { patchJson, putJson } from './lib/bench-data.mjs';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: fileURLToPath(new URL('./host.mjs', import.meta.url)) },
    component: { type: 'string' },
    envs: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '5' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const n = Number(args.envs);
const runs = Number(args.runs);
if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(runs) || runs < 1) {
  console.error('error: --envs and --runs must be positive integers');
  process.exit(2);
}
const PHASE_TIMEOUT_MS = 120_000;

const put = `event: put\ndata: ${putJson(n)}\n\n`;
let patches = '';
for (let i = 0; i < n; i++) patches += `event: patch\ndata: ${patchJson(i, 2)}\n\n`;

/** Resolves when `pred()` holds, checked on every stdout chunk; rejects after the timeout. */
function until(child, pred, what) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pred()) return;
      cleanup();
      resolve(process.hrtime.bigint());
    };
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${PHASE_TIMEOUT_MS} ms waiting for ${what}`));
    }, PHASE_TIMEOUT_MS);
    const onExit = (code) => {
      cleanup();
      reject(new Error(`the host exited (${code}) while waiting for ${what}`));
    };
    const cleanup = () => {
      clearTimeout(t);
      child.stdout.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** Peak resident memory of a process, in MiB (Linux), or null. */
function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** One run: a fresh server and a fresh host process. */
async function measure() {
  let response = null;
  let onConnected;
  const connected = new Promise((resolve) => (onConnected = resolve));
  const srv = createServer((req, res) => {
    if (response) {
      // Only one connection is expected; anything else would distort the figures.
      res.writeHead(503);
      res.end();
      return;
    }
    response = res;
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.flushHeaders();
    onConnected();
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const hostArgs = [args.host, '--key', 'bench-key-0001', '--stream-uri', `http://127.0.0.1:${srv.address().port}`, '--log-level', args['log-level']];
  if (args.component) hostArgs.push('--component', args.component);
  const child = spawn(process.execPath, hostArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let lines = 0;
  let last = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) lines++;
    last = (last + d).slice(-400);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  try {
    await Promise.race([
      connected,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no connection from the host; stderr:\n${stderr}`)), PHASE_TIMEOUT_MS)),
    ]);
    const t0 = process.hrtime.bigint();
    response.write(put);
    const tReady = await until(child, () => lines >= n + 1, `${n} adds and ready`);
    if (!last.endsWith('{"op":"ready"}\n')) throw new Error(`the put did not end with ready: ...${last}`);
    const t1 = process.hrtime.bigint();
    response.write(patches);
    const tDone = await until(child, () => lines >= 2 * n + 1, `${n} updates`);
    if (!last.includes(`"envId":"env${String(n - 1).padStart(6, '0')}"`) || !last.includes('"version":2}}')) {
      throw new Error(`the last line is not the last update: ...${last}`);
    }
    return { put: Number(tReady - t0) / 1e6, patches: Number(tDone - t1) / 1e6, rss: peakRssMiB(child.pid) };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    response?.destroy();
    srv.closeAllConnections();
    srv.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (let r = 0; r < runs; r++) results.push(await measure());
const rss = results.map((x) => x.rss).filter((x) => x !== null);
const list = (key) => results.map((x) => x[key].toFixed(0)).join(', ');
console.log(
  `${args.host} (log level ${args['log-level']}, median of ${runs}):\n` +
    `  put of ${n} environments (${(put.length / 1024).toFixed(0)} KiB), first byte to ready: ` +
    `${median(results.map((x) => x.put)).toFixed(0)} ms (${list('put')})\n` +
    `  ${n} patches (${(patches.length / 1024).toFixed(0)} KiB), first byte to the last update: ` +
    `${median(results.map((x) => x.patches)).toFixed(0)} ms (${list('patches')})` +
    (rss.length ? `\n  peak RSS of the host process: ${median(rss).toFixed(0)} MiB` : ''),
);
