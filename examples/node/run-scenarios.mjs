// Runs the shared corpora through the transpiled component and reports, one line per file.
//   node run-scenarios.mjs              both: <repo>/tests/scenarios and <repo>/tests/streams
//   node run-scenarios.mjs DIR          DIR as a scenario corpus (the `client` export)
//   node run-scenarios.mjs --streams DIR  DIR as a stream corpus (the `stream-client` export)
// Options (before the rest): --mode callbacks | batched | batched-logs | all (default all: every
// file in each form; see MODES in lib/scenario.mjs).
import { basename } from 'node:path';

import { Component } from './lib/autoconfig.mjs';
import { CORPUS_DIR, MODES, corpusFiles, loadScenario, runScenario } from './lib/scenario.mjs';
import { STREAMS_DIR, loadStreamCase, runStreamCase } from './lib/stream-scenario.mjs';

const scenarios = { what: 'scenario', run: (c, file, mode) => runScenario(c, loadScenario(file), mode) };
const streams = { what: 'stream case', run: (c, file, mode) => runStreamCase(c, loadStreamCase(file), mode) };
const argv = process.argv.slice(2);
let modes = MODES;
if (argv[0] === '--mode') {
  const m = argv[1];
  if (m !== 'all' && !MODES.includes(m)) {
    console.error(`--mode: one of ${MODES.join(', ')}, all; got ${JSON.stringify(m)}`);
    process.exit(2);
  }
  modes = m === 'all' ? MODES : [m];
  argv.splice(0, 2);
}
let corpora;
if (argv.length === 0) corpora = [[scenarios, CORPUS_DIR], [streams, STREAMS_DIR]];
else if (argv[0] === '--streams' && argv.length <= 2) corpora = [[streams, argv[1] ?? STREAMS_DIR]];
else if (argv.length === 1 && !argv[0].startsWith('-')) corpora = [[scenarios, argv[0]]];
else {
  console.error('usage: node run-scenarios.mjs [--mode callbacks|batched|batched-logs|all] [DIR | --streams [DIR]]');
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
  for (const mode of modes) {
    let bad = 0;
    for (const file of files) {
      let errors;
      try {
        errors = kind.run(component, file, mode);
      } catch (e) {
        errors = [e.message];
      }
      if (errors.length === 0) {
        console.log(`ok   ${basename(file)} (${mode})`);
      } else {
        bad++;
        console.log(`FAIL ${basename(file)} (${mode})\n${errors.join('\n')}`);
      }
    }
    console.log(`${files.length - bad} of ${files.length} ${kind.what} files passed, ${mode} (${dir})`);
    failed += bad;
  }
}
process.exit(failed === 0 ? 0 : 1);
