// expect TS2322: logLevel is a wasi:logging level
import type { Settings } from 'relay-autoconfig';
export const settings: Settings = { logLevel: 'verbose' };
