// The library: size limit before the guest, trap recovery with a fresh instance.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AutoconfigClient, Component, StreamClient, StreamOptionsError, TrapError, jsonLinesHandler } from '../lib/autoconfig.mjs';

const component = await Component.load();
const put = (ids) =>
  JSON.stringify({ path: '/', data: { environments: Object.fromEntries(ids.map((id) => [id, { envId: id, version: 1 }])) } });

test('data over maxMessageBytes is rejected without entering the guest', () => {
  const out = [];
  const logs = [];
  const client = new AutoconfigClient(component, jsonLinesHandler((l) => out.push(l), (lv, m) => logs.push([lv, m])), {
    maxMessageBytes: 50,
  });
  const d = client.onEvent('put', put(['a', 'b', 'c']), 1000n);
  assert.deepEqual(d, { restart: 'malformed-data', nextDeadline: null });
  assert.deepEqual(out, []);
  assert.ok(logs.some(([lv, m]) => lv === 'error' && m.includes('over the limit of 50')));
});

test('a handler that throws kills the instance; the next call starts fresh', () => {
  const out = [];
  let fail = true;
  const base = jsonLinesHandler((l) => out.push(l));
  const client = new AutoconfigClient(component, {
    ...base,
    addEnvironment: (p) => {
      if (fail) throw new Error('boom');
      base.addEnvironment(p);
    },
    reset: () => out.push('{"op":"reset"}'),
  });
  assert.throws(() => client.onEvent('put', put(['a']), 1000n), TrapError);
  fail = false;
  client.onEvent('put', put(['a']), 1001n);
  // The handler is told the state is gone; a fresh instance: `a` is new again.
  assert.deepEqual(out, [
    '{"op":"reset"}',
    '{"op":"add","env":{"envId":"a","envKey":"","envName":"","projectKey":"","projectName":"","sdkKey":"","mobileKey":"","expiringSdkKey":null,"defaultTtlMinutes":0,"secureMode":false,"version":1}}',
    '{"op":"ready"}',
  ]);
});

test('JSON lines are byte for byte those of autoconfig-host (host/src/output.rs)', async () => {
  const { envJson, jsonReplacer, lines } = await import('../lib/autoconfig.mjs');
  const p = {
    envId: 'e', envKey: 'k', envName: 'n', projectKey: 'p', projectName: 'pn', sdkKey: 's', mobileKey: 'm',
    expiringSdkKey: { key: 'o', expiresAt: 5n }, defaultTtlMinutes: 2n, secureMode: true, version: 3n,
  };
  assert.equal(
    lines.add(p),
    '{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projectKey":"p","projectName":"pn","sdkKey":"s","mobileKey":"m","expiringSdkKey":{"key":"o","expiresAt":5},"defaultTtlMinutes":2,"secureMode":true,"version":3}}',
  );
  // `none` is undefined in jco's records, null in JSON; an expiring key may have no expiry.
  assert.equal(
    lines.update({ ...p, expiringSdkKey: undefined }),
    '{"op":"update","env":{"envId":"e","envKey":"k","envName":"n","projectKey":"p","projectName":"pn","sdkKey":"s","mobileKey":"m","expiringSdkKey":null,"defaultTtlMinutes":2,"secureMode":true,"version":3}}',
  );
  assert.match(envJson({ ...p, expiringSdkKey: { key: 'o', expiresAt: undefined } }), /"expiringSdkKey":\{"key":"o","expiresAt":null\},/);
  // s64 extremes: exact where JSON.rawJSON exists (Node 21+), the nearest number otherwise.
  const big = JSON.parse(envJson({ ...p, defaultTtlMinutes: -(2n ** 53n), version: 2n ** 53n }));
  assert.equal(big.defaultTtlMinutes, -(2 ** 53));
  assert.equal(big.version, 2 ** 53);
  if (typeof JSON.rawJSON === 'function') {
    assert.match(JSON.stringify({ v: (1n << 63n) - 1n }, jsonReplacer), /"v":9223372036854775807/);
  }
  assert.equal(lines.ready(), '{"op":"ready"}');
  assert.equal(lines.delete('e'), '{"op":"delete","envId":"e"}');
  assert.equal(lines.keyExpired('e', 'o'), '{"op":"key-expired","envId":"e","oldKey":"o"}');
});

test('the JSON form is the record the handler got: the same fields, in the same (WIT) order', async () => {
  const { envJson } = await import('../lib/autoconfig.mjs');
  const got = [];
  const client = new AutoconfigClient(component, { ...jsonLinesHandler(() => {}), addEnvironment: (p) => got.push(p) });
  const env = { envId: 'e', version: 1, sdkKey: { value: 'new', expiring: { value: 'old', timestamp: 1796000009000 } } };
  client.onEvent('put', JSON.stringify({ path: '/', data: { environments: { e: env } } }), 1796000000000n);
  assert.equal(got.length, 1);
  const json = JSON.parse(envJson(got[0]));
  assert.deepEqual(Object.keys(json), Object.keys(got[0]));
  assert.deepEqual(Object.keys(json.expiringSdkKey), Object.keys(got[0].expiringSdkKey));
  assert.deepEqual(json.expiringSdkKey, { key: 'old', expiresAt: 1796000009000 });
});

// ---- argument checks: a wrong argument throws before the component is entered ----

/** The ids of the adds, updates and deletes among JSON lines. */
const ops = (out) => out.map((l) => JSON.parse(l)).map((o) => (o.env ? `${o.op} ${o.env.envId}` : o.envId ? `${o.op} ${o.envId}` : o.op));

test('AutoconfigClient: wrong arguments throw TypeError/RangeError and leave the state intact', () => {
  const out = [];
  const client = new AutoconfigClient(component, jsonLinesHandler((l) => out.push(l)));
  client.onEvent('put', put(['a', 'b']), 1000n);
  assert.deepEqual(ops(out.splice(0)), ['add a', 'add b', 'ready']);

  const bad = [
    [() => client.onEvent('put', put(['a']), 1000.5), TypeError],
    [() => client.onEvent('put', put(['a']), '1000'), TypeError],
    [() => client.onEvent('put', put(['a']), NaN), TypeError],
    [() => client.onEvent('put', put(['a']), -1), RangeError],
    [() => client.onEvent('put', put(['a']), 2 ** 53), RangeError],
    [() => client.onEvent('put', put(['a']), 1n << 64n), RangeError],
    [() => client.onEvent('put', put(['a']), -1n), RangeError],
    [() => client.onEvent('put', put(['a']), undefined), TypeError],
    [() => client.onEvent(7, put(['a']), 1000), TypeError],
    [() => client.onEvent('put', { path: '/' }, 1000), TypeError],
    [() => client.tick(1.5), TypeError],
    [() => client.tick('soon'), TypeError],
    [() => client.configure({ logLevel: 'loud' }), RangeError],
    [() => client.configure({ maxMessageBytes: -5 }), RangeError],
    [() => client.configure({ maxBytes: 5 }), TypeError],
  ];
  for (const [call, type] of bad) assert.throws(call, type, String(call));
  assert.equal(out.length, 0, 'no callback ran');

  // The same instance, its state intact: only the real differences come out.
  client.onEvent('put', put(['a', 'c']), 2000);
  assert.deepEqual(ops(out), ['add c', 'delete b', 'ready']);
  // A safe integer number and a bigint are both accepted.
  assert.equal(client.tick(2001), null);
  assert.equal(client.tick(2002n), null);
});

const STREAM = { key: 'rel-key-0001', streamUri: 'http://stream.test', jitterSeed: 1n };
const T = 1796000000000n;
const sseEvent = (name, data) => new TextEncoder().encode(`event: ${name}\ndata: ${data}\n\n`);

/** A connected stream client that has received a put of `ids`. */
function connectedStream(ids, out, logs = []) {
  const client = new StreamClient(component, jsonLinesHandler((l) => out.push(l), (lv, m) => logs.push([lv, m])));
  const first = client.start(STREAM, T);
  assert.equal(first.connect.url, 'http://stream.test/relay_auto_config');
  client.onResponse(200, 'text/event-stream', null, T + 1n);
  client.onBody(sseEvent('put', put(ids)), T + 2n);
  return client;
}

test('StreamClient: a body chunk over a detached ArrayBuffer is an empty chunk, not a trap', () => {
  const out = [];
  const client = connectedStream(['a'], out);
  const chunk = sseEvent('put', put(['b']));
  structuredClone(chunk.buffer, { transfer: [chunk.buffer] }); // detaches it
  const step = client.onBody(chunk, T + 3n);
  assert.equal(step.disconnect, false);
  client.onBody(sseEvent('put', put(['a', 'c'])), T + 4n);
  assert.deepEqual(ops(out), ['add a', 'ready', 'add c', 'ready'], 'the state survived: a is not added again');
});

test('StreamClient: steps are plain objects with null for none and bigint deadlines', () => {
  const out = [];
  const client = new StreamClient(component, jsonLinesHandler((l) => out.push(l)));
  const step = client.start(STREAM, Number(T));
  assert.deepEqual(step, {
    disconnect: false,
    connect: {
      url: 'http://stream.test/relay_auto_config',
      headers: [['Authorization', 'rel-key-0001'], ['Accept', 'text/event-stream'], ['Cache-Control', 'no-cache']],
    },
    stop: null,
    nextDeadline: T + 300_000n,
    lastEventId: null,
  });
  client.onResponse(200, 'text/event-stream', null, T + 1n);
  assert.equal(client.onBody(new TextEncoder().encode('id: e-7\n: no event yet\n'), T + 2n).lastEventId, null);
  assert.equal(client.onBody(new TextEncoder().encode('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n'), T + 3n).lastEventId, 'e-7');
  assert.deepEqual(out, ['{"op":"ready"}']);
  assert.deepEqual(client.onClosed(null, T + 4n).connect, null);
  const refused = new StreamClient(component, jsonLinesHandler((l) => out.push(l)));
  refused.start(STREAM, T);
  assert.deepEqual(refused.onResponse(401, null, undefined, T + 1n), {
    disconnect: true, connect: null, stop: 'invalid-key', nextDeadline: null, lastEventId: null,
  });
});

test('StreamClient: wrong arguments throw TypeError/RangeError and leave the state intact', () => {
  const out = [];
  const client = connectedStream(['a', 'b'], out);
  assert.deepEqual(ops(out.splice(0)), ['add a', 'add b', 'ready']);

  const chunk = sseEvent('put', put(['x']));
  const bad = [
    [() => client.onBody(chunk, 1796000000003.5), TypeError],
    [() => client.onBody(chunk, '1796000000003'), TypeError],
    [() => client.onBody(chunk, NaN), TypeError],
    [() => client.onBody(chunk, -3), RangeError],
    [() => client.onBody('event: put\ndata: {}\n\n', T), TypeError],
    [() => client.onBody([1, 2, 3], T), TypeError],
    [() => client.onBody(chunk.buffer, T), TypeError],
    [() => client.onResponse(200.5, 'text/event-stream', null, T), TypeError],
    [() => client.onResponse('200', 'text/event-stream', null, T), TypeError],
    [() => client.onResponse(70000, 'text/event-stream', null, T), RangeError],
    [() => client.onResponse(200, 5, null, T), TypeError],
    [() => client.onResponse(200, null, new URL('http://x/'), T), TypeError],
    [() => client.onClosed(new Error('reset'), T), TypeError],
    [() => client.onClosed(null, 1.25), TypeError],
    [() => client.onTimeout(T * 1000000n * 1000000n), RangeError],
    [() => client.onTimeout({}), TypeError],
    [() => client.start({ ...STREAM, readTimeoutMs: 2.5 }, T), TypeError],
    [() => client.start({ ...STREAM, jitterSeed: -1n }, T), RangeError],
    [() => client.start({ ...STREAM, priorFailures: 2 ** 32 }, T), RangeError],
    [() => client.start({ ...STREAM, key: null }, T), TypeError],
    [() => client.start({ ...STREAM, lastEventId: 5 }, T), TypeError],
    [() => client.start({ ...STREAM, streamURI: 'http://x' }, T), TypeError],
    [() => client.start(STREAM, 0.5), TypeError],
    [() => client.configure({ logLevel: 'verbose' }), RangeError],
  ];
  for (const [call, type] of bad) assert.throws(call, type, String(call));
  assert.deepEqual(out, [], 'no callback ran');

  // Still connected, with its state: the next put only yields the real differences.
  const step = client.onBody(sseEvent('put', put(['a', 'c'])), T + 10n);
  assert.deepEqual(ops(out), ['add c', 'delete b', 'ready']);
  assert.equal(step.disconnect, false);
});

test('StreamClient: options the component refuses throw StreamOptionsError and change nothing', () => {
  const out = [];
  const client = connectedStream(['a'], out);
  out.length = 0;
  assert.throws(() => client.start({ ...STREAM, key: '' }, T + 5n), (e) => e instanceof StreamOptionsError && /key/.test(e.message));
  assert.throws(() => client.start({ ...STREAM, streamUri: 'ftp://x' }, T + 5n), StreamOptionsError);
  assert.throws(() => client.start({ ...STREAM, readTimeoutMs: 0 }, T + 5n), StreamOptionsError);
  // The connection is still the open one.
  client.onBody(sseEvent('patch', JSON.stringify({ path: '/environments/a', data: { envId: 'a', version: 2 } })), T + 6n);
  assert.deepEqual(ops(out), ['update a']);
});

test('StreamClient: a handler that throws is a trap; the next start runs on a fresh instance', () => {
  const out = [];
  let fail = true;
  const base = jsonLinesHandler((l) => out.push(l));
  const client = new StreamClient(component, {
    ...base,
    addEnvironment: (p) => {
      if (fail) throw new Error('boom');
      base.addEnvironment(p);
    },
  });
  client.start(STREAM, T);
  client.onResponse(200, 'text/event-stream', null, T);
  assert.throws(() => client.onBody(sseEvent('put', put(['a'])), T), TrapError);
  fail = false;
  const step = client.start({ ...STREAM, priorFailures: 1 }, T + 1n);
  // One prior failure: the first connection waits as after a failure.
  assert.equal(step.connect, null);
  assert.ok(step.nextDeadline > T + 1n);
});
