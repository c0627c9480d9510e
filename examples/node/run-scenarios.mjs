// Runs every scenario file of the shared corpus through the transpiled component and reports.
//   node run-scenarios.mjs [DIR]      (default: <repo>/tests/scenarios)
import { basename } from 'node:path';

import { Component } from './lib/autoconfig.mjs';
import { CORPUS_DIR, corpusFiles, loadScenario, runScenario } from './lib/scenario.mjs';

const dir = process.argv[2] ?? CORPUS_DIR;
const files = corpusFiles(dir);
if (files.length === 0) {
  console.error(`no scenario files in ${dir}`);
  process.exit(1);
}
const component = await Component.load();
let failed = 0;
for (const file of files) {
  let errors;
  try {
    errors = runScenario(component, loadScenario(file));
  } catch (e) {
    errors = [e.message];
  }
  if (errors.length === 0) {
    console.log(`ok   ${basename(file)}`);
  } else {
    failed++;
    console.log(`FAIL ${basename(file)}\n${errors.join('\n')}`);
  }
}
console.log(`${files.length - failed} of ${files.length} scenarios passed`);
process.exit(failed === 0 ? 0 : 1);
