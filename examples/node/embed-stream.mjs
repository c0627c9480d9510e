// The README's stream-client snippet (the sans-IO protocol by hand, no network), run by test/embed.test.mjs and test-package.sh.
import { Component, StreamClient, jsonLinesHandler } from 'relay-autoconfig';

const component = await Component.load(); // the transpiled component shipped in the package
const stream = new StreamClient(component, jsonLinesHandler(console.log, console.error), { logLevel: 'info' });

// The component asks for a request; the host opens it (fetch with redirect: 'manual') ...
let step = stream.start({ key: 'rel-key-0001', streamUri: 'https://stream.example' }, Date.now());
console.log('GET', step.connect.url, step.connect.headers.map(([name]) => name).join(', '));
// ... and reports what happens to it: the response headers, each body chunk, the end.
step = stream.onResponse(200, 'text/event-stream', null, Date.now());
const put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}';
step = stream.onBody(new TextEncoder().encode(`event: put\ndata: ${put}\n\n`), Date.now()); // prints add + ready
// Every step: { disconnect, connect, stop, nextDeadline, lastEventId }. Close the request on
// `disconnect`, open `connect`, stop on `stop`, call stream.onTimeout(Date.now()) at `nextDeadline`.
step = stream.onClosed('connection reset', Date.now());
console.log('reconnect in', Number(step.nextDeadline) - Date.now(), 'ms'); // backoff with jitter
