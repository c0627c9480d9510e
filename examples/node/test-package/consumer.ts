// An embedder's program against the installed package, compiled with `tsc --strict` by
// test-package.sh and run with node; its stdout must be expected-consumer.txt.
import {
  AutoconfigClient,
  Component,
  StreamClient,
  RestoreError,
  StreamOptionsError,
  TrapError,
  jsonLinesHandler,
  parseBatch,
  parseLogs,
  type BatchHandler,
  type CallLine,
  type Directive,
  type EnvironmentJson,
  type EnvironmentParams,
  type Handler,
  type LogLevel,
  type Request,
  type Restored,
  type Settings,
  type Step,
  type StreamOptions,
} from 'relay-autoconfig';
import { runStream } from 'relay-autoconfig/stream-runner';

const print = (...parts: Array<string | number | bigint>): void => console.log(parts.join(' '));

const handler: Handler = {
  addEnvironment: (env: EnvironmentParams) => print('add', env.envId, env.sdkKey, env.version),
  updateEnvironment: (env) => print('update', env.envId, env.version, env.expiringSdkKey?.key ?? '-'),
  deleteEnvironment: (envId) => print('delete', envId),
  receivedAllEnvironments: () => print('ready'),
  keyExpired: (envId, oldKey) => print('expired', envId, oldKey),
  log: (level: LogLevel, message: string, context: string) => {
    if (level === 'error' || level === 'critical') console.error(`${context}: ${message}`);
  },
  reset: () => print('reset'),
};

const component: Component = await Component.load(); // the package's own out/

// ---- the stream client, by hand (no network) ----
const received: string[] = [];
const stream = new StreamClient(component, jsonLinesHandler((line) => received.push(line)), { logLevel: 'error' });
const options: StreamOptions = { key: 'rel-key-0001', streamUri: 'https://stream.example', jitterSeed: 7n };
let step: Step = stream.start(options, Date.now());
const request: Request | null = step.connect;
if (request === null) throw new Error('start did not ask for a connection');
print('connect', request.url, request.headers.map(([name]) => name).join(','));
step = stream.onResponse(200, 'text/event-stream', null, Date.now());
const sse = 'event: put\ndata: {"path":"/","data":{"environments":{"s1":{"envId":"s1","version":1}}}}\nid: ev-1\n\n';
step = stream.onBody(new TextEncoder().encode(sse), BigInt(Date.now()));
const parsed = received.map((line) => JSON.parse(line) as CallLine);
print('stream', parsed.map((line) => line.op).join(','), step.lastEventId ?? '-');
// A JSON line's env is the record in its JSON form: numbers for u64/s64, null for none.
for (const line of parsed) {
  if (line.op !== 'add') continue;
  const env: EnvironmentJson = line.env;
  const version: number = env.version;
  const expiring: { key: string; expiresAt: number | null } | null = env.expiringSdkKey;
  print('json', env.envId, version, env.defaultTtlMinutes, String(expiring), Object.keys(env).join(','));
}
try {
  stream.start({ key: '' }, Date.now());
} catch (e) {
  if (e instanceof StreamOptionsError) print('refused', e.name);
  else throw e;
}
const controller = new AbortController();
controller.abort();
const { stop } = await runStream(stream, options, { signal: controller.signal, userAgent: 'consumer/1.0' });
print('runStream', String(stop));

// ---- a trap: the handler's reset, then TrapError ----
const trapping = new AutoconfigClient(component, {
  ...handler,
  log: undefined,
  addEnvironment: () => {
    throw new Error('boom');
  },
});
try {
  trapping.onEvent('put', '{"path":"/","data":{"environments":{"t1":{"envId":"t1","version":1}}}}', 0);
} catch (e) {
  if (e instanceof TrapError) print('trap', e.name);
  else throw e;
}

// ---- the event client, with a timer re-armed after every onEvent and every tick ----
const settings: Settings = { logLevel: 'warn', maxMessageBytes: 1n << 20n };
const client = new AutoconfigClient(component, handler, settings);

let timer: ReturnType<typeof setTimeout> | undefined;
function arm(deadline: bigint | null): void {
  clearTimeout(timer);
  timer = undefined;
  if (deadline === null) return;
  const wait = Math.min(Math.max(Number(deadline - BigInt(Date.now())), 0), 2 ** 31 - 1);
  timer = setTimeout(() => arm(client.tick(Date.now())), wait);
}
function onEvent(name: string, data: string): void {
  const directive: Directive = client.onEvent(name, data, BigInt(Date.now()));
  arm(directive.nextDeadline);
  if (directive.restart !== null) print('restart', directive.restart);
}

interface WireEnv {
  envId: string;
  version: number;
  sdkKey: { value: string; expiring?: { value: string; timestamp: number } };
}
const env = (id: string, version: number, expiresInMs?: number): WireEnv => ({
  envId: id,
  version,
  sdkKey: {
    value: `${id}-new`,
    ...(expiresInMs === undefined ? {} : { expiring: { value: `${id}-old`, timestamp: Date.now() + expiresInMs } }),
  },
});

// No expiry in the put: no timer. Each patch brings one, so only re-arming after onEvent starts
// the timer, and only re-arming after tick fires the second expiry.
onEvent('put', JSON.stringify({ path: '/', data: { environments: { e1: env('e1', 1), e2: env('e2', 1) } } }));
onEvent('patch', JSON.stringify({ path: '/environments/e1', data: env('e1', 2, 100) }));
onEvent('patch', JSON.stringify({ path: '/environments/e2', data: env('e2', 2, 250) }));
onEvent('reconnect', '');
onEvent('put', '{"path":"/","data":');

// Batched: one string of JSON lines per call (and, with `logs`, one of log lines).
const batches: string[] = [];
const logLines: Array<[string, string]> = [];
const batchHandler: BatchHandler = {
  batch: (lines: string) => batches.push(lines),
  logs: (lines: string) => logLines.push(...parseLogs(lines)),
};
const batched = new AutoconfigClient(component, batchHandler);
batched.onEvent('put', JSON.stringify({ path: '/', data: { environments: { e1: env('e1', 1) } } }), BigInt(Date.now()));
const calls: CallLine[] = batches.flatMap((b) => parseBatch(b));
print('batched', batches.length, calls.map((c) => c.op).join(' '), logLines.some(([level]) => level === 'info') ? 'logs' : 'no logs');

// ---- snapshot and restore: the event client's state in a new client, silently ----
const bytes: Uint8Array = client.snapshot();
const copy = new AutoconfigClient(component, handler);
const restored: Restored = copy.restore(bytes);
print('restored', restored.environments, restored.pendingExpiries, String(restored.nextDeadline === copy.nextDeadline), restored.lastEventId ?? '-');
try {
  copy.restore(bytes.subarray(0, 10), { announce: true });
} catch (e) {
  if (e instanceof RestoreError) print('refused', e.name);
  else throw e;
}
