// Times on-event for a put of N environments (1,000 and 10,000 by default) through the
// transpiled component: a put into an empty state (N adds) and the same put again (no changes),
// per callback and batched.
//   node bench.mjs [N...]
import { AutoconfigClient, Component, jsonLinesHandler } from './lib/autoconfig.mjs';
import { putJson } from './lib/bench-data.mjs';

const sizes = process.argv.slice(2).map(Number);
const component = await Component.load();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
{
  // Cold: the very first put in this process (V8 has not optimised the module yet).
  const data = putJson(1000);
  const client = new AutoconfigClient(component, jsonLinesHandler(() => {}));
  const t = process.hrtime.bigint();
  client.onEvent('put', data, Date.now());
  console.log(`node ${process.versions.node} (jco): cold first put of 1000 environments: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`);
  // Warm-up.
  for (let i = 0; i < 5; i++) new AutoconfigClient(component, jsonLinesHandler(() => {})).onEvent('put', data, Date.now());
}
// Per callback (a handler call per callback and per log line), then batched (a BatchHandler:
// one string of JSON lines per call, log lines batched too).
const handlers = {
  'per callback': (count) => jsonLinesHandler(() => count()),
  batched: (count) => ({ batch: (t) => count(t), logs: () => {} }),
};
for (const [form, makeHandler] of Object.entries(handlers))
for (const logLevel of ['debug', 'warn']) {
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    const data = putJson(n);
    const first = [];
    const again = [];
    let lines = 0;
    for (let run = 0; run < 5; run++) {
      const client = new AutoconfigClient(component, makeHandler(() => lines++), { logLevel });
      let t = process.hrtime.bigint();
      client.onEvent('put', data, Date.now());
      first.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      client.onEvent('put', data, Date.now());
      again.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    console.log(
      `node ${process.versions.node} (jco), ${form}, log level ${logLevel}: put of ${n} environments (${(data.length / 1024).toFixed(0)} KiB): ` +
        `first ${median(first).toFixed(1)} ms, identical again ${median(again).toFixed(1)} ms (median of 5)`,
    );
  }
}
