// The README's Node.js embedding snippet, run by examples/run-tests.sh.
import { AutoconfigClient, Component } from './lib/autoconfig.mjs';

const component = await Component.load(); // ./out, from `npm run transpile`
const client = new AutoconfigClient(component, {
  addEnvironment: (env) => console.log('add', env.envId, env.sdkKey),
  updateEnvironment: (env) => console.log('update', env.envId, env.version),
  deleteEnvironment: (envId) => console.log('delete', envId),
  receivedAllEnvironments: () => console.log('ready'),
  keyExpired: (envId, oldKey) => console.log('expired', envId, oldKey),
  log: (level, message) => console.error(level, message),
});

const put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}';
const { restart, nextDeadline } = client.onEvent('put', put, BigInt(Date.now()));
// restart: null | 'reconnect-requested' | 'malformed-data'; nextDeadline: bigint | null
if (nextDeadline !== null) setTimeout(() => client.tick(BigInt(Date.now())), Number(nextDeadline) - Date.now());
