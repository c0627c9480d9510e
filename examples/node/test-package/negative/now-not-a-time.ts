// expect TS2345: now is a bigint or a number
import type { AutoconfigClient } from 'relay-autoconfig';
declare const client: AutoconfigClient;
client.tick('2026-01-01');
