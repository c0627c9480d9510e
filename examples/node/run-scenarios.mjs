// Runs the shared corpora through the transpiled component and reports, one line per file.
//   node run-scenarios.mjs              both: <repo>/tests/scenarios and <repo>/tests/streams
//   node run-scenarios.mjs DIR          DIR as a scenario corpus (the `client` export)
//   node run-scenarios.mjs --streams DIR  DIR as a stream corpus (the `stream-client` export)
import { basename } from 'node:path';

import { Component } from './lib/autoconfig.mjs';
import { CORPUS_DIR, corpusFiles, loadScenario, runScenario } from './lib/scenario.mjs';
import { STREAMS_DIR, loadStreamCase, runStreamCase } from './lib/stream-scenario.mjs';

const scenarios = { what: 'scenario', run: (c, file) => runScenario(c, loadScenario(file)) };
const streams = { what: 'stream case', run: (c, file) => runStreamCase(c, loadStreamCase(file)) };
const argv = process.argv.slice(2);
let corpora;
if (argv.length === 0) corpora = [[scenarios, CORPUS_DIR], [streams, STREAMS_DIR]];
else if (argv[0] === '--streams' && argv.length <= 2) corpora = [[streams, argv[1] ?? STREAMS_DIR]];
else if (argv.length === 1 && !argv[0].startsWith('-')) corpora = [[scenarios, argv[0]]];
else {
  console.error('usage: node run-scenarios.mjs [DIR | --streams [DIR]]');
  process.exit(2);
}

const component = await Component.load();
let failed = 0;
for (const [kind, dir] of corpora) {
  const files = corpusFiles(dir);
  if (files.length === 0) {
    console.log(`FAIL no ${kind.what} files in ${dir}`);
    failed++;
    continue;
  }
  let bad = 0;
  for (const file of files) {
    let errors;
    try {
      errors = kind.run(component, file);
    } catch (e) {
      errors = [e.message];
    }
    if (errors.length === 0) {
      console.log(`ok   ${basename(file)}`);
    } else {
      bad++;
      console.log(`FAIL ${basename(file)}\n${errors.join('\n')}`);
    }
  }
  console.log(`${files.length - bad} of ${files.length} ${kind.what} files passed (${dir})`);
  failed += bad;
}
process.exit(failed === 0 ? 0 : 1);
