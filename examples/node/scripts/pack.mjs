// The npm lifecycle around `npm pack` / `npm publish` (package.json `prepack` and `postpack`).
//
//   node scripts/pack.mjs prepack    transpile the component into out/ and copy LICENSE in
//   node scripts/pack.mjs postpack   remove the copied LICENSE again
//
// The component packed is $AUTOCONFIG_COMPONENT or <repo>/dist/relay_autoconfig.wasm (`make
// component`), checked against dist/relay_autoconfig.wasm.sha256 when that is the one used. The
// transpiled output must import nothing (no WASI, so no @bytecodealliance/preview2-shim at run
// time): the package has no runtime dependency, and this refuses to pack one that would need one.
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

import { NODE_DIR, OUT_DIR, REPO_ROOT, transpile } from './transpile.mjs';

const LICENSE_SRC = resolve(REPO_ROOT, 'LICENSE');
const LICENSE_DST = resolve(NODE_DIR, 'LICENSE');

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

/** Every module specifier a JavaScript file imports (static, dynamic) or requires. */
function importsOf(code) {
  const found = [];
  for (const re of [/^\s*import\s[^'"]*?['"]([^'"]+)['"]/gm, /^\s*export\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/gm, /\bimport\s*\(\s*['"]?([^'")]*)/g, /\brequire\s*\(\s*['"]?([^'")]*)/g]) {
    for (const m of code.matchAll(re)) found.push(m[1]);
  }
  return found;
}

function prepack() {
  const fromEnv = process.env.AUTOCONFIG_COMPONENT;
  const component = resolve(fromEnv || resolve(REPO_ROOT, 'dist/relay_autoconfig.wasm'));
  if (!existsSync(component)) {
    fail(`component not found: ${component}\nBuild it with \`make component\` in the repository root, or set AUTOCONFIG_COMPONENT to the .wasm file.`);
  }
  const sha256 = transpile(component);
  const shaFile = `${component}.sha256`;
  if (existsSync(shaFile)) {
    const expected = readFileSync(shaFile, 'utf8').trim().split(/\s+/)[0];
    if (expected !== sha256) fail(`${component} does not match ${shaFile} (${sha256} != ${expected}): rebuild it with \`make component\``);
  } else if (!fromEnv) {
    fail(`${shaFile} is missing: rebuild the component with \`make component\``);
  }
  for (const file of readdirSync(OUT_DIR).filter((f) => f.endsWith('.js'))) {
    const imports = importsOf(readFileSync(resolve(OUT_DIR, file), 'utf8'));
    if (imports.length) fail(`out/${file} imports ${imports.join(', ')}: the package would need a runtime dependency`);
  }
  if (!existsSync(LICENSE_SRC)) fail(`${LICENSE_SRC} is missing`);
  copyFileSync(LICENSE_SRC, LICENSE_DST);
}

function postpack() {
  // Only the copy made by prepack (the same bytes as the repository's LICENSE).
  if (existsSync(LICENSE_DST) && existsSync(LICENSE_SRC) && readFileSync(LICENSE_DST).equals(readFileSync(LICENSE_SRC))) {
    rmSync(LICENSE_DST);
  }
}

const phase = process.argv[2];
if (phase === 'prepack') prepack();
else if (phase === 'postpack') postpack();
else fail('usage: node scripts/pack.mjs prepack|postpack');
