// The shared duration cases (tests/durations.json), the same as autoconfig-host's and Python's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { parseDuration } from '../lib/duration.mjs';

const { cases } = JSON.parse(readFileSync(new URL('../../../tests/durations.json', import.meta.url), 'utf8'));

test('durations parse as in Go, as in the other hosts', () => {
  assert.ok(cases.length > 20);
  for (const c of cases) {
    if ('ms' in c) {
      assert.equal(parseDuration(c.text), c.ms, c.text);
    } else {
      assert.throws(() => parseDuration(c.text), (e) => e instanceof RangeError && e.message.includes(c.error), c.text);
    }
  }
});
