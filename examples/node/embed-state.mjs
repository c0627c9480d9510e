// The README's snapshot snippet (the state in a file, restored at start; run twice by test/embed.test.mjs).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { AutoconfigClient, Component, RestoreError, jsonLinesHandler } from 'relay-autoconfig';

const STATE_FILE = process.argv[2] ?? 'autoconfig.state';
const component = await Component.load();
const client = new AutoconfigClient(component, jsonLinesHandler(console.log, console.error));

// At start: bring the last state back, and tell the proxy (`announce`: an add per environment, then ready).
try {
  const { environments } = client.restore(readFileSync(STATE_FILE), { announce: true });
  console.log('restored', environments);
} catch (e) {
  if (e.code === 'ENOENT') console.log('first start');
  else if (e instanceof RestoreError) console.error('ignoring the state file:', e.message); // corrupt, truncated, newer
  else throw e;
}

// After changes: write it again, atomically. It holds SDK keys: readable by this user only, in
// a file created afresh ('wx': never an old file's mode, never through a planted symlink).
function save() {
  const tmp = `${STATE_FILE}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, client.snapshot());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, STATE_FILE);
}

const put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}';
client.onEvent('put', put, Date.now()); // first start: add + ready; restored: only ready (nothing changed)
save();
