// Every scenario file of the shared corpus, through the transpiled component.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';

import { Component } from '../lib/autoconfig.mjs';
import { componentPath } from '../scripts/transpile.mjs';
import { CORPUS_DIR, corpusFiles, loadScenario, runScenario } from '../lib/scenario.mjs';

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

for (const file of files) {
  test(`scenario ${basename(file)}`, () => {
    const errors = runScenario(component, loadScenario(file));
    assert.deepEqual(errors, [], errors.join('\n'));
  });
}
