// Transpiles the component into ./out with jco (sync instantiation, so that the embedding passes
// the imports itself and can create as many independent instances as it likes).
//
//   AUTOCONFIG_COMPONENT=path/to/relay_autoconfig.wasm npm run transpile
//
// Default component (development): <repo>/target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm,
// the one `cargo build -p autoconfig-host` builds. `npm pack` transpiles <repo>/dist instead
// (scripts/pack.mjs).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** examples/node */
export const NODE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const REPO_ROOT = resolve(NODE_DIR, '../..');
/** Where the transpiled component goes (and where `Component.load()` looks by default). */
export const OUT_DIR = resolve(NODE_DIR, 'out');

/** The .wasm to transpile in development: $AUTOCONFIG_COMPONENT or the one built with the repository. */
export function componentPath() {
  return resolve(process.env.AUTOCONFIG_COMPONENT || resolve(REPO_ROOT, 'target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm'));
}

/** The pinned jco's version (from its package.json). */
function jcoVersion() {
  return JSON.parse(readFileSync(resolve(NODE_DIR, 'node_modules/@bytecodealliance/jco/package.json'), 'utf8')).version;
}

/**
 * Transpiles `component` into `out` (replaced), and writes `out/source.json`: which .wasm (its
 * path relative to the repository, or its file name), its sha256 and the jco version.
 * Exits the process with a message on any error.
 * @param {string} component
 * @param {string} [out]
 * @returns {string} the component's sha256
 */
export function transpile(component, out = OUT_DIR) {
  if (!existsSync(component)) {
    console.error(
      `error: component not found: ${component}\n` +
        'Build it with `make component` (dist/) or `cargo build -p autoconfig-host` in the repository root, ' +
        'or set AUTOCONFIG_COMPONENT to the .wasm file.',
    );
    process.exit(1);
  }
  const jco = resolve(NODE_DIR, 'node_modules/.bin/jco');
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
  const rel = relative(REPO_ROOT, component);
  const name = rel.startsWith('..') || isAbsolute(rel) ? basename(component) : rel;
  writeFileSync(resolve(out, 'source.json'), JSON.stringify({ component: name, sha256, jco: jcoVersion() }, null, 2) + '\n');
  console.error(`transpiled ${component} (sha256 ${sha256.slice(0, 12)}) into ${out}`);
  return sha256;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  transpile(componentPath());
}
