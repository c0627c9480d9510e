// expect TS2531: a step's connect is null unless a connection is asked for
import type { StreamClient } from 'relay-autoconfig';
declare const stream: StreamClient;
console.log(stream.start({ key: 'k' }, 0).connect.url);
