// The README's Node.js snippet (root and examples/node READMEs), run by test/embed.test.mjs, examples/run-tests.sh and test-package.sh.
import { AutoconfigClient, Component } from 'relay-autoconfig';

const component = await Component.load(); // the transpiled component shipped in the package
const client = new AutoconfigClient(component, {
  addEnvironment: (env) => console.log('add', env.envId, env.sdkKey),
  updateEnvironment: (env) => console.log('update', env.envId, env.version),
  deleteEnvironment: (envId) => console.log('delete', envId),
  receivedAllEnvironments: () => console.log('ready'),
  keyExpired: (envId, oldKey) => console.log('expired', envId, oldKey),
  log: (level, message) => console.error(level, message),
});

// One timer for the component's next deadline (SDK key expiries), re-armed after every onEvent
// and every tick. Waking early is harmless; setTimeout cannot wait longer than 2^31 - 1 ms.
let timer;
function arm(deadline) {
  clearTimeout(timer);
  if (deadline === null) return;
  const wait = Math.min(Math.max(Number(deadline) - Date.now(), 0), 2 ** 31 - 1);
  timer = setTimeout(() => arm(client.tick(Date.now())), wait);
}

// Call it for every SSE event of the stream (`now`: wall-clock ms since the Unix epoch).
function onEvent(name, data) {
  const { restart, nextDeadline } = client.onEvent(name, data, Date.now());
  arm(nextDeadline);
  if (restart !== null) console.log('restart the stream:', restart); // 'reconnect-requested' | 'malformed-data'
}

// A put of two environments whose old SDK keys expire in 100 and 200 ms.
const env = (id, ms) => ({ envId: id, sdkKey: { value: `${id}-new`, expiring: { value: `${id}-old`, timestamp: Date.now() + ms } }, version: 1 });
onEvent('put', JSON.stringify({ path: '/', data: { environments: { e1: env('e1', 100), e2: env('e2', 200) } } }));
