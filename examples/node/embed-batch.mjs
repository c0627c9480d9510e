// The README's batched snippet (each call's callbacks as one string of JSON lines), run by test/embed.test.mjs and test-package.sh.
import { Component, StreamClient, parseBatch } from 'relay-autoconfig';

const component = await Component.load();
const stream = new StreamClient(component, {
  // Each call's callbacks, once, before the call returns: JSON lines, the bytes autoconfig-host prints.
  batch: (lines) => process.stdout.write(lines), // pass them on as they are (one write) ...
  log: (level, message) => console.error(level, message),
  reset: () => process.stdout.write('{"op":"reset"}\n'), // a trap: the state is gone, nothing of that call came
});
stream.start({ key: 'rel-key-0001', streamUri: 'https://stream.example' }, Date.now());
stream.onResponse(200, 'text/event-stream', null, Date.now());
const put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}';
stream.onBody(new TextEncoder().encode(`event: put\ndata: ${put}\n\n`), Date.now()); // writes add + ready

// ... or parse them: one object per callback ({op: 'add', env}, {op: 'ready'}, ...).
const ops = parseBatch('{"op":"delete","envId":"e1"}\n{"op":"ready"}\n').map((call) => call.op);
console.log(ops.join(' ')); // delete ready
