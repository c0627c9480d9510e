// expect TS2345: event data is a string
import { AutoconfigClient, type Component, type Handler } from 'relay-autoconfig';
declare const component: Component;
declare const handler: Handler;
new AutoconfigClient(component, handler).onEvent('put', 42, 1n);
