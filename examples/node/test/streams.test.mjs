// Every case of the shared stream corpus (tests/streams/*.json), through the transpiled
// component's stream client; and the runner itself, on inline cases, so that it is known to fail.
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { test } from 'node:test';

import { Component } from '../lib/autoconfig.mjs';
import { MODES } from '../lib/scenario.mjs';
import { STREAMS_DIR, decodeStreamCase, loadStreamCase, runStreamCase, streamFiles } from '../lib/stream-scenario.mjs';

const files = streamFiles();
const component = await Component.load();

test('the stream corpus is not empty', () => {
  assert.ok(files.length > 0, `no stream case files in ${STREAMS_DIR}`);
});

// Each case per callback and batched (with log lines one by one, and batched too).
for (const mode of MODES) {
  for (const file of files) {
    test(`stream case ${basename(file)} (${mode})`, () => {
      const errors = runStreamCase(component, loadStreamCase(file), mode);
      assert.deepEqual(errors, [], errors.join('\n'));
    });
  }
}

const CONNECT = {
  url: 'http://stream.test/relay_auto_config',
  headers: [['Authorization', 'rel-key-0001'], ['Accept', 'text/event-stream'], ['Cache-Control', 'no-cache']],
};

test('runner: a case that holds passes, and every wrong expectation is reported', () => {
  const good = {
    name: 'runner check',
    steps: [
      { start: 1000, expect: { connect: CONNECT, nextDeadline: 301000 } },
      { response: { status: 200, contentType: 'text/event-stream' }, now: 1010, expect: { nextDeadline: 301010 } },
      { body: 'event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n', now: 1020, expect: { calls: [{ op: 'ready' }], nextDeadline: 301020 } },
    ],
  };
  assert.deepEqual(runStreamCase(component, decodeStreamCase(JSON.stringify(good))), []);

  const bad = structuredClone(good);
  bad.steps[0].expect.connect.headers[0][1] = 'another-key';
  bad.steps[1].expect = { disconnect: true, nextDeadline: 301010 };
  bad.steps[2].expect.calls = [];
  bad.steps[2].expect.logs = [{ level: 'error', contains: 'no such line' }];
  const errors = runStreamCase(component, decodeStreamCase(JSON.stringify(bad)));
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.match(errors[0], /^step 0 \(start\): connect differs/);
  assert.match(errors[1], /^step 1 \(response\): disconnect false, expected true/);
  assert.match(errors[2], /^step 2 \(body\): callbacks differ/);
  assert.match(errors[3], /^step 2 \(body\): no error log containing "no such line"/);
});

test('runner: start errors are checked, and an unexpected one is reported', () => {
  const c = (expect, options) => ({ name: 'x', steps: [{ start: 1000, options, expect }] });
  assert.deepEqual(runStreamCase(component, decodeStreamCase(JSON.stringify(c({ error: 'key' }, { key: '' })))), []);
  assert.match(runStreamCase(component, decodeStreamCase(JSON.stringify(c({ error: 'key' })))).join(), /start succeeded, expected an error/);
  assert.match(runStreamCase(component, decodeStreamCase(JSON.stringify(c({}, { key: '' })))).join(), /start failed: /);
});

test('runner: malformed cases are refused with the place named', () => {
  const refuse = (value, pattern) => assert.throws(() => decodeStreamCase(JSON.stringify(value)), pattern);
  refuse({ name: 'x', steps: [], extra: 1 }, /unknown field `extra`/);
  refuse({ name: 'x', steps: [{ start: 1, timeout: 2 }] }, /steps\[0\]: give exactly one of/);
  refuse({ name: 'x', steps: [{ timeout: 1, now: 2 }] }, /steps\[0\]: unknown field `now`/);
  refuse({ name: 'x', steps: [{ bodyHex: 'abc', now: 1 }] }, /steps\[0\]\.bodyHex: expected pairs of hex digits/);
  refuse({ name: 'x', steps: [{ closed: null, now: 1, expect: { error: 'x' } }] }, /only a start step can expect an error/);
  refuse({ name: 'x', steps: [{ response: { status: 70000 }, now: 1 }] }, /status: expected an integer/);
  refuse({ name: 'x', options: { key: 'k', seed: 1 }, steps: [] }, /options: unknown field `seed`/);
  refuse({ name: 'x', steps: [{ start: 1, expect: { stop: 'bored' } }] }, /stop: expected null or "invalid-key"/);
});

test('runner, batched: a wrong expectation is reported in every form', () => {
  const bad = {
    name: 'runner check (batched)',
    steps: [
      { start: 1000, expect: { connect: CONNECT, nextDeadline: 301000 } },
      { response: { status: 200, contentType: 'text/event-stream' }, now: 1010, expect: { nextDeadline: 301010 } },
      { body: 'event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n', now: 1020, expect: { calls: [], nextDeadline: 301020 } },
    ],
  };
  for (const mode of MODES) {
    const errors = runStreamCase(component, decodeStreamCase(JSON.stringify(bad)), mode);
    assert.equal(errors.length, 1, `${mode}: ${errors.join('\n')}`);
    assert.match(errors[0], /^step 2 \(body\): callbacks differ/);
  }
});
