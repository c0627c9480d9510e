// expect TS2741: a handler must have addEnvironment
import { AutoconfigClient, type Component } from 'relay-autoconfig';
declare const component: Component;
new AutoconfigClient(component, {
  updateEnvironment: () => {},
  deleteEnvironment: () => {},
  receivedAllEnvironments: () => {},
  keyExpired: () => {},
});
