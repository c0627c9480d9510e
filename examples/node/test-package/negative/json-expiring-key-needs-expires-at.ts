// expect TS2741: in a JSON line an option is present, null when none
import type { EnvironmentJson } from 'relay-autoconfig';
declare const env: EnvironmentJson;
export const rotated: EnvironmentJson = { ...env, expiringSdkKey: { key: 'sdk-old' } };
