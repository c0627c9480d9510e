// The worker side of GuardedClient: one AutoconfigClient, its callbacks collected per call.
import { parentPort, workerData } from 'node:worker_threads';

import { AutoconfigClient, Component } from './autoconfig.mjs';

const component = await Component.load(workerData.outDir);
let events = [];
const handler = {
  addEnvironment: (p) => events.push(['addEnvironment', p]),
  updateEnvironment: (p) => events.push(['updateEnvironment', p]),
  deleteEnvironment: (id) => events.push(['deleteEnvironment', id]),
  receivedAllEnvironments: () => events.push(['receivedAllEnvironments']),
  keyExpired: (id, key) => events.push(['keyExpired', id, key]),
  log: (level, message, context) => events.push(['log', level, message, context]),
};
const client = new AutoconfigClient(component, handler, workerData.settings);

parentPort.on('message', ({ id, op, args }) => {
  events = [];
  try {
    const result = client[op](...args);
    parentPort.postMessage({ id, events, result });
  } catch (e) {
    parentPort.postMessage({ id, events, error: String(e.message) });
  }
});
parentPort.postMessage({ ready: true });
