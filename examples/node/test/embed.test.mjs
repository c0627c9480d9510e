// The README's snippets are real files: each runs, and the README shows it verbatim.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const readme = readFileSync(here('README.md'), 'utf8');

/** Runs the snippet `file` with `args`; its stdout. */
async function run(file, args = []) {
  const { stdout } = await promisify(execFile)(process.execPath, [here(file), ...args], { cwd: here(''), timeout: 20_000 });
  return stdout;
}

/** The file minus its leading comment line is one of the README's code blocks. */
function assertInReadme(file) {
  const code = readFileSync(here(file), 'utf8').split('\n').slice(1).join('\n');
  assert.ok(readme.includes(`\`\`\`js\n${code}\`\`\``), `the README does not show ${file} as it is`);
}

for (const [file, expected] of [
  ['embed.mjs', /^add e1 e1-new\nadd e2 e2-new\nready\nexpired e1 e1-old\nexpired e2 e2-old\n$/],
  ['embed-batch.mjs', /^\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\ndelete ready\n$/],
  ['embed-stream.mjs', /^GET https:\/\/stream\.example\/relay_auto_config Authorization, Accept, Cache-Control\n\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\nreconnect in \d+ ms\n$/],
]) {
  test(`${file} runs and is in the README verbatim`, { timeout: 30_000 }, async () => {
    assert.match(await run(file), expected);
    assertInReadme(file);
  });
}

test('embed-state.mjs: the second run restores the state the first one wrote (mode 0600); it is in the README verbatim', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-autoconfig-state-'));
  try {
    const file = join(dir, 'autoconfig.state');
    assert.match(await run('embed-state.mjs', [file]), /^first start\n\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\n$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file).subarray(0, 8).toString('latin1'), 'RACSNAP\n');
    // A world-readable temporary file left behind, then a symlink planted in its place: the
    // state file is still a fresh 0600 file, and the symlink's target is not written.
    writeFileSync(`${file}.tmp`, 'left over', { mode: 0o644 });
    // Announced at start, then the same put brings nothing new.
    assert.match(await run('embed-state.mjs', [file]), /^\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\nrestored 1\n\{"op":"ready"\}\n$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const target = join(dir, 'target');
    writeFileSync(target, 'untouched', { mode: 0o644 });
    symlinkSync(target, `${file}.tmp`);
    await run('embed-state.mjs', [file]);
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
    assert.ok(lstatSync(file).isFile(), 'the state file is a file, not the planted symlink');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assertInReadme('embed-state.mjs');
});
