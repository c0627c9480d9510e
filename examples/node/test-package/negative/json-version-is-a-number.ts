// expect TS2322: in a JSON line a u64/s64 is a number, not a bigint
import type { EnvironmentJson } from 'relay-autoconfig';
declare const env: EnvironmentJson;
export const version: bigint = env.version;
