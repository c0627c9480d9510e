// The library: size limit before the guest, trap recovery with a fresh instance.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AutoconfigClient, Component, TrapError, jsonLinesHandler } from '../lib/autoconfig.mjs';

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
  });
  assert.throws(() => client.onEvent('put', put(['a']), 1000n), TrapError);
  fail = false;
  client.onEvent('put', put(['a']), 1001n);
  // A fresh instance: `a` is new again.
  assert.deepEqual(out, [
    '{"op":"add","env":{"envId":"a","envKey":"","envName":"","projKey":"","projName":"","sdkKey":"","mobKey":"","expiringSdkKey":null,"expiresAt":null,"ttlMinutes":0,"secureMode":false,"version":1}}',
    '{"op":"ready"}',
  ]);
});

test('JSON lines are byte for byte those of autoconfig-host (host/src/output.rs)', async () => {
  const { lines } = await import('../lib/autoconfig.mjs');
  const p = {
    envId: 'e', envKey: 'k', envName: 'n', projectKey: 'p', projectName: 'pn', sdkKey: 's', mobileKey: 'm',
    expiringSdkKey: { key: 'o', expiresAt: 5n }, defaultTtlMinutes: 2n, secureMode: true, version: 3n,
  };
  assert.equal(
    lines.add(p),
    '{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projKey":"p","projName":"pn","sdkKey":"s","mobKey":"m","expiringSdkKey":"o","expiresAt":5,"ttlMinutes":2,"secureMode":true,"version":3}}',
  );
  assert.equal(lines.ready(), '{"op":"ready"}');
  assert.equal(lines.delete('e'), '{"op":"delete","envId":"e"}');
  assert.equal(lines.keyExpired('e', 'o'), '{"op":"key-expired","envId":"e","oldKey":"o"}');
});

test('GuardedClient: callbacks in order from a worker; a call over its time limit kills the worker', async () => {
  const { GuardedClient } = await import('../lib/guarded.mjs');
  const out = [];
  const client = new GuardedClient(jsonLinesHandler((l) => out.push(l)), { callTimeoutMs: 5000 });
  try {
    const d = await client.onEvent('put', put(['a', 'b']), 1000n);
    assert.deepEqual(d, { restart: null, nextDeadline: null });
    assert.equal(out.length, 3);
    assert.equal(out[2], '{"op":"ready"}');
    // A put far too big for a 1 ms budget stands in for a runaway guest.
    client.callTimeoutMs = 1;
    const big = put(Array.from({ length: 20000 }, (_, i) => `e${i}`));
    await assert.rejects(client.onEvent('put', big, 1001n), TrapError);
    // The next call runs on a fresh worker with empty state: `a` is added again.
    client.callTimeoutMs = 5000;
    out.length = 0;
    await client.onEvent('put', put(['a']), 1002n);
    assert.equal(out.length, 2);
    assert.match(out[0], /^\{"op":"add","env":\{"envId":"a"/);
  } finally {
    await client.close();
  }
});
