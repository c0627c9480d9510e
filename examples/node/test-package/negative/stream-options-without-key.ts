// expect TS2741: stream options need the key
import type { StreamClient } from 'relay-autoconfig';
declare const stream: StreamClient;
stream.start({ streamUri: 'https://stream.example' }, 0);
