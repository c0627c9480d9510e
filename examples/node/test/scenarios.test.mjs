// Every scenario file of the shared corpus, through the transpiled component.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';

import { Component } from '../lib/autoconfig.mjs';
import { componentPath } from '../scripts/transpile.mjs';
import { CORPUS_DIR, MODES, corpusFiles, decodeScenario, loadScenario, runScenario } from '../lib/scenario.mjs';

const files = corpusFiles();
const component = await Component.load();

test('out/ was transpiled from the component under test (the same .wasm as Rust and Python)', () => {
  const source = JSON.parse(readFileSync(join(component.outDir, 'source.json'), 'utf8'));
  const sha256 = createHash('sha256').update(readFileSync(componentPath())).digest('hex');
  assert.equal(source.sha256, sha256, `out/ is stale: run \`npm run transpile\` (${componentPath()})`);
});

test('the corpus is not empty', () => {
  assert.ok(files.length > 0, `no scenario files in ${CORPUS_DIR}`);
});

// Each file per callback and batched (with log lines one by one, and batched too).
for (const mode of MODES) {
  for (const file of files) {
    test(`scenario ${basename(file)} (${mode})`, () => {
      const errors = runScenario(component, loadScenario(file), mode);
      assert.deepEqual(errors, [], errors.join('\n'));
    });
  }
}

test('runner: an env compares as a JSON value (key order is free; a wrong, missing or extra field is reported)', () => {
  const env = {
    envId: 'e', envKey: 'k', envName: 'n', projectKey: 'p', projectName: 'pn', sdkKey: 'new', mobileKey: 'm',
    expiringSdkKey: { key: 'old', expiresAt: 1796000009000 }, defaultTtlMinutes: 5, secureMode: true, version: 2,
  };
  const wire = {
    envId: 'e', envKey: 'k', envName: 'n', projKey: 'p', projName: 'pn', mobKey: 'm', defaultTtl: 5, secureMode: true, version: 2,
    sdkKey: { value: 'new', expiring: { value: 'old', timestamp: 1796000009000 } },
  };
  const scenario = (expected) =>
    decodeScenario(JSON.stringify({
      name: 'runner check',
      steps: [{
        event: 'put', now: 1796000000000, data: { path: '/', data: { environments: { e: wire } } },
        expect: { calls: [{ op: 'add', env: expected }, { op: 'ready' }], nextDeadline: 1796000009000 },
      }],
    }));
  const reversed = Object.fromEntries(Object.entries(env).reverse());
  reversed.expiringSdkKey = { expiresAt: 1796000009000, key: 'old' };
  assert.deepEqual(runScenario(component, scenario(env)), []);
  assert.deepEqual(runScenario(component, scenario(reversed)), []);
  const { version, ...missing } = env;
  for (const wrong of [
    { ...env, expiringSdkKey: { key: 'old', expiresAt: 1796000009001 } },
    { ...env, expiringSdkKey: { key: 'old' } },
    { ...env, expiringSdkKey: null },
    { ...env, version: '2' },
    { ...env, extra: 1 },
    missing,
  ]) {
    assert.match(runScenario(component, scenario(wrong)).join('\n'), /^step 0: callbacks differ/);
  }
  assert.equal(version, 2);
  assert.throws(
    () => decodeScenario('{"name":"x","steps":[{"tick":1,"expect":{"calls":[{"op":"add","env":{"envId":"a","envId":"b"}}]}}]}'),
    /steps\[0\]\.expect\.calls\[0\]\.env: duplicate field `envId`/,
  );
});
