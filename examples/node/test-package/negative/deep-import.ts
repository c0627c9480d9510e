// expect TS2307: only the package's exports can be imported, not its files
import { parse } from 'relay-autoconfig/lib/json-raw.mjs';
console.log(parse);
