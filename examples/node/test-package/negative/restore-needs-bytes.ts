// expect TS2345: a snapshot is bytes (a Uint8Array or a Buffer), not a string
import type { AutoconfigClient } from 'relay-autoconfig';
declare const client: AutoconfigClient;
client.restore('RACSNAP\n');
