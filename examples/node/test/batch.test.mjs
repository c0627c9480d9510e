// The batched form (a handler with `batch`): the same lines as per callback, one delivery per
// call before it returns, all or nothing on a trap, and the argument checks unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AutoconfigClient, Component, StreamClient, StreamOptionsError, TrapError, jsonLinesHandler, parseBatch, parseLogs,
} from '../lib/autoconfig.mjs';

const component = await Component.load();
const T = 1796000000000n;
const STREAM = { key: 'rel-key-0001', streamUri: 'http://stream.test', jitterSeed: 1n };
const sseEvent = (name, data) => new TextEncoder().encode(`event: ${name}\ndata: ${data}\n\n`);
const wireEnv = (id, version, expiring) => ({
  envId: id, envKey: `k-${id}`, envName: `Name "${id}"\n`, projKey: 'p', projName: 'P \u00e9\u{1f600}', mobKey: `m-${id}`,
  sdkKey: expiring ? { value: `sdk-${id}`, expiring: { value: `old-${id}`, timestamp: Number(T) + 5000 } } : { value: `sdk-${id}` },
  defaultTtl: 5, secureMode: true, version,
});
const put = (ids, version = 1) =>
  JSON.stringify({ path: '/', data: { environments: Object.fromEntries(ids.map((id, i) => [id, wireEnv(id, version, i % 2 === 0)])) } });
const patch = (id, version) => JSON.stringify({ path: `/environments/${id}`, data: wireEnv(id, version, false) });

/** A batch handler recording each delivery (one string per call). */
function recorder(extra = {}) {
  const batches = [];
  const logs = [];
  return { batches, logs, handler: { batch: (t) => batches.push(t), log: (lv, m) => logs.push([lv, m]), ...extra } };
}

test('batched: each call delivers its callbacks once, as exactly the lines jsonLinesHandler writes', () => {
  const lines = [];
  const perCallback = new AutoconfigClient(component, jsonLinesHandler((l) => lines.push(l)));
  const { batches, handler } = recorder();
  const batched = new AutoconfigClient(component, handler);
  const steps = [
    (c) => c.onEvent('put', put(['a', 'b', 'c', 'd']), T),
    (c) => c.onEvent('patch', patch('b', 2), T + 1n),
    (c) => c.onEvent('patch', patch('b', 2), T + 2n), // not newer: no callback
    (c) => c.onEvent('delete', JSON.stringify({ path: '/environments/c', version: 9 }), T + 3n),
    (c) => c.onEvent('put', put(['a', 'd', 'e'], 3), T + 4n),
    (c) => c.tick(T + 6000n), // the expiring keys of the put of version 3
  ];
  for (const [i, step] of steps.entries()) {
    lines.length = 0;
    batches.length = 0;
    const want = step(perCallback);
    const got = step(batched);
    assert.deepEqual(got, want, `step ${i}: the same result`);
    if (lines.length === 0) assert.deepEqual(batches, [], `step ${i}: no callback, no delivery`);
    else assert.deepEqual(batches, [`${lines.join('\n')}\n`], `step ${i}: one delivery, the same bytes`);
  }
  // parseBatch gives one object per line.
  const parsed = parseBatch(`${lines.join('\n')}\n`);
  assert.deepEqual(parsed, lines.map((l) => JSON.parse(l)));
  assert.ok(parsed.some((o) => o.op === 'key-expired'));
});

test('batched: the batch is delivered before the call returns (before the host acts on the step)', () => {
  let delivered = null;
  const client = new StreamClient(component, { batch: (t) => (delivered = t) });
  client.start(STREAM, T);
  client.onResponse(200, 'text/event-stream', null, T);
  const step = client.onBody(sseEvent('put', put(['a'])), T + 1n);
  assert.equal(step.disconnect, false);
  assert.deepEqual(parseBatch(delivered).map((o) => o.op), ['add', 'ready']);
});

test('batched logs: with `logs`, the log lines come as one string per call, after the call', () => {
  const logBatches = [];
  const perLine = [];
  const { batches, handler } = recorder({ logs: (t) => logBatches.push(t), log: (lv, m) => perLine.push([lv, m]) });
  const client = new AutoconfigClient(component, handler);
  client.onEvent('put', put(['a', 'b']), T);
  assert.equal(batches.length, 1);
  assert.equal(logBatches.length, 1);
  assert.deepEqual(perLine, [], 'no log line one by one');
  const pairs = parseLogs(logBatches[0]);
  assert.ok(pairs.filter(([lv, m]) => lv === 'info' && m.startsWith('Added environment')).length === 2, logBatches[0]);
  assert.ok(logBatches[0].endsWith('\n'));
  // A malformed event: a log line, no callback: `logs` only.
  client.onEvent('patch', '{', T + 1n);
  assert.equal(batches.length, 1);
  assert.equal(logBatches.length, 2);
  assert.ok(parseLogs(logBatches[1]).some(([lv]) => lv === 'error'));
});

test('batched: a trap mid-put delivers nothing of that put; the fresh instance starts from nothing', () => {
  // The per-line log callback throws at the 20th "Added environment" line of a 40-environment put:
  // by then the component had appended 19 add lines to its batch buffer.
  const ids = Array.from({ length: 40 }, (_, i) => `env${String(i).padStart(2, '0')}`);
  let added = 0;
  let armed = true;
  const resets = [];
  const { batches, handler } = recorder({
    log: (lv, m) => {
      if (armed && m.startsWith('Added environment') && ++added === 20) throw new Error('boom in log');
    },
    reset: () => resets.push('reset'),
  });
  const client = new AutoconfigClient(component, handler);
  client.onEvent('put', put(['old']), T);
  assert.equal(batches.length, 1);
  batches.length = 0;
  assert.throws(() => client.onEvent('put', put(ids), T + 1n), TrapError);
  assert.equal(added, 20, 'the trap came in the middle of the put');
  assert.deepEqual(batches, [], 'nothing of the trapped put was delivered');
  assert.deepEqual(resets, ['reset']);
  assert.equal(client.nextDeadline, null);
  // The next call runs on a fresh instance (empty state): `old` is not deleted, `a` is added; the
  // trapped call's 19 buffered lines are gone with its instance.
  armed = false;
  client.onEvent('put', put(['a']), T + 2n);
  assert.deepEqual(batches.map(parseBatch).map((b) => b.map((o) => `${o.op} ${o.env?.envId ?? ''}`.trim())), [['add a', 'ready']]);
});

test('batched: a `batch` that throws is a trap; a StreamClient then restarts on a fresh instance', () => {
  let fail = true;
  const resets = [];
  const delivered = [];
  const client = new StreamClient(component, {
    batch: (t) => {
      if (fail) throw new Error('sink failed');
      delivered.push(t);
    },
    reset: () => resets.push('reset'),
  });
  client.start(STREAM, T);
  client.onResponse(200, 'text/event-stream', null, T);
  assert.throws(() => client.onBody(sseEvent('put', put(['a'])), T), (e) => e instanceof TrapError && /sink failed/.test(e.message));
  assert.deepEqual(resets, ['reset']);
  fail = false;
  const step = client.start({ ...STREAM, priorFailures: 1 }, T + 1n);
  assert.equal(step.connect, null);
  assert.deepEqual(delivered, []);
});

test('batched: argument checks are unchanged (TypeError/RangeError before the guest), and so is StreamOptionsError', () => {
  const { batches, handler } = recorder();
  const client = new AutoconfigClient(component, handler);
  assert.throws(() => client.onEvent('put', 1, T), TypeError);
  assert.throws(() => client.onEvent('put', '{}', -1), RangeError);
  assert.throws(() => client.tick(1.5), TypeError);
  assert.throws(() => client.configure({ logLevel: 'loud' }), RangeError);
  const stream = new StreamClient(component, handler);
  assert.throws(() => stream.start({ ...STREAM, key: '' }, T), StreamOptionsError);
  assert.throws(() => stream.onBody('text', T), TypeError);
  assert.throws(() => stream.onResponse(70000, null, null, T), RangeError);
  assert.deepEqual(batches, []);
  // The instance survived all of it.
  client.onEvent('put', put(['a']), T);
  assert.equal(batches.length, 1);
});

test('batched: a handler of the wrong shape is refused at construction', () => {
  assert.throws(() => new AutoconfigClient(component, null), TypeError);
  assert.throws(() => new AutoconfigClient(component, { batch: 'stdout' }), /handler\.batch must be a function/);
  assert.throws(() => new StreamClient(component, { logs: () => {} }), /handler\.logs needs handler\.batch/);
});

test('parseBatch and parseLogs: the empty text, and text that is not theirs', () => {
  assert.deepEqual(parseBatch(''), []);
  assert.deepEqual(parseBatch('{"op":"ready"}\n{"op":"delete","envId":"a\\nb"}\n'), [{ op: 'ready' }, { op: 'delete', envId: 'a\nb' }]);
  assert.throws(() => parseBatch('{"op":"ready"}'), SyntaxError);
  assert.throws(() => parseBatch('{"op":\n'), SyntaxError);
  assert.throws(() => parseBatch('{"op":"ready"},{"op":"ready"}\n'), SyntaxError);
  assert.throws(() => parseBatch('[1]\n'), SyntaxError);
  assert.throws(() => parseBatch(null), TypeError);
  assert.deepEqual(parseLogs(''), []);
  assert.deepEqual(parseLogs('info Added x\nwarn two  spaces\nerror\n'), [['info', 'Added x'], ['warn', 'two  spaces'], ['error', '']]);
  assert.throws(() => parseLogs('loud hello\n'), SyntaxError);
  assert.throws(() => parseLogs(3), TypeError);
});
