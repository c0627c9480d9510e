// The package's `relay-autoconfig-node` binary (host.mjs) from node_modules/.bin, against a local
// SSE server: it must print the put's callbacks as JSON lines and exit 0 on SIGTERM. Bounded.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const put = '{"path":"/","data":{"environments":{"h1":{"envId":"h1","sdkKey":{"value":"sdk-h1"},"version":1}}}}';
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(`event: put\ndata: ${put}\n\n`); // and keep the stream open
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');

const host = spawn('node_modules/.bin/relay-autoconfig-node', ['--key', 'rel-key-0001', '--stream-uri', `http://127.0.0.1:${server.address().port}`, '--log-level', 'error'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const guard = setTimeout(() => {
  console.error('error: the host did not print ready within 20 s');
  host.kill('SIGKILL');
  process.exit(1);
}, 20_000);
for await (const line of createInterface({ input: host.stdout })) {
  console.log(JSON.parse(line).op);
  if (line === '{"op":"ready"}') host.kill('SIGTERM');
}
const [code] = host.exitCode !== null ? [host.exitCode] : await once(host, 'exit');
clearTimeout(guard);
console.log('exit', code);
server.closeAllConnections();
server.close();
