// The hand-written declarations (lib/*.d.mts) declare exactly the runtime exports of their
// modules, and package.json exports both. (test-package.sh compiles a program against them with
// `tsc --strict`, and checks that wrong calls are refused.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (p) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

/** The value (not type-only) names a declaration file exports. */
function declaredValues(dts) {
  return [...dts.matchAll(/^export (?:declare )?(?:function|class|const|let) (\w+)/gm)].map((m) => m[1]).sort();
}

for (const [module, dts] of [['lib/autoconfig.mjs', 'lib/autoconfig.d.mts'], ['lib/stream-runner.mjs', 'lib/stream-runner.d.mts']]) {
  test(`${dts} declares exactly the exports of ${module}`, async () => {
    const runtime = Object.keys(await import(`../${module}`)).sort();
    assert.deepEqual(declaredValues(read(dts)), [...new Set(runtime)]);
  });
}

test('package.json exports the library with its types, and packs them', () => {
  const pkg = JSON.parse(read('package.json'));
  assert.deepEqual(pkg.exports['.'], { types: './lib/autoconfig.d.mts', default: './lib/autoconfig.mjs' });
  assert.deepEqual(pkg.exports['./stream-runner'], { types: './lib/stream-runner.d.mts', default: './lib/stream-runner.mjs' });
  for (const f of ['lib/autoconfig.mjs', 'lib/autoconfig.d.mts', 'lib/stream-runner.mjs', 'lib/stream-runner.d.mts', 'out/']) {
    assert.ok(pkg.files.includes(f), `files lacks ${f}`);
  }
  assert.equal(pkg.dependencies, undefined, 'no runtime dependency');
});

test('the package imports itself by name (what the README snippets do)', async () => {
  const byName = await import('relay-autoconfig');
  const byPath = await import('../lib/autoconfig.mjs');
  assert.equal(byName.AutoconfigClient, byPath.AutoconfigClient);
  assert.equal((await import('relay-autoconfig/stream-runner')).runStream, (await import('../lib/stream-runner.mjs')).runStream);
});
