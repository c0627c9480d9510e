// expect TS2367: restart is null, 'reconnect-requested' or 'malformed-data'
import type { AutoconfigClient } from 'relay-autoconfig';
declare const client: AutoconfigClient;
if (client.onEvent('put', '{}', 1n).restart === 'reconnect') console.log('never');
