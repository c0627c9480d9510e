// expect TS2345: a handler must have addEnvironment (or be a BatchHandler, with batch)
import { AutoconfigClient, type Component } from 'relay-autoconfig';
declare const component: Component;
new AutoconfigClient(component, {
  updateEnvironment: () => {},
  deleteEnvironment: () => {},
  receivedAllEnvironments: () => {},
  keyExpired: () => {},
});
