// Transpiles the component into ./out with jco (sync instantiation, so that the embedding passes
// the imports itself and can create as many independent instances as it likes).
//
//   AUTOCONFIG_COMPONENT=path/to/relay_autoconfig.wasm npm run transpile
//
// Default component: <repo>/target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentPath } from '../lib/autoconfig.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = resolve(here, '..');
const component = componentPath();
const out = resolve(nodeDir, 'out');

if (!existsSync(component)) {
  console.error(
    `error: component not found: ${component}\n` +
      'Build it with `cargo build -p autoconfig-host` in the repository root, ' +
      'or set AUTOCONFIG_COMPONENT to the .wasm file.',
  );
  process.exit(1);
}

const jco = resolve(nodeDir, 'node_modules/.bin/jco');
if (!existsSync(jco)) {
  console.error('error: jco is not installed; run `npm ci` in examples/node first.');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
const result = spawnSync(
  jco,
  ['transpile', component, '-o', out, '--name', 'relay_autoconfig', '--instantiation', 'sync', '--quiet'],
  { stdio: 'inherit' },
);
if (result.status !== 0) {
  console.error(`error: jco transpile failed (status ${result.status})`);
  process.exit(1);
}
const sha256 = createHash('sha256').update(readFileSync(component)).digest('hex');
writeFileSync(resolve(out, 'source.json'), JSON.stringify({ component, sha256 }, null, 2) + '\n');
console.error(`transpiled ${component} (sha256 ${sha256.slice(0, 12)}) into ${out}`);
