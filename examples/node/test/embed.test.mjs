// The README's snippets are real files: each runs, and the README shows it verbatim.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const readme = readFileSync(here('README.md'), 'utf8');

for (const [file, expected] of [
  ['embed.mjs', /^add e1 e1-new\nadd e2 e2-new\nready\nexpired e1 e1-old\nexpired e2 e2-old\n$/],
  ['embed-batch.mjs', /^\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\ndelete ready\n$/],
  ['embed-stream.mjs', /^GET https:\/\/stream\.example\/relay_auto_config Authorization, Accept, Cache-Control\n\{"op":"add","env":\{"envId":"e1",[^\n]*\}\}\n\{"op":"ready"\}\nreconnect in \d+ ms\n$/],
]) {
  test(`${file} runs and is in the README verbatim`, { timeout: 30_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [here(file)], { cwd: here(''), timeout: 20_000 });
    assert.match(stdout, expected);
    // The file minus its leading comment line is the README's code block.
    const code = readFileSync(here(file), 'utf8').split('\n').slice(1).join('\n');
    assert.ok(readme.includes(`\`\`\`js\n${code}\`\`\``), `the README does not show ${file} as it is`);
  });
}
