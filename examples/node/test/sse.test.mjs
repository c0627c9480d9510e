// The SSE parser: line ends, chunking, fields.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser } from '../lib/sse.mjs';

const events = (items) => items.filter((i) => i.type === 'event').map(({ event, data, id }) => [event, data, id]);

function parseAll(text, chunk = Infinity) {
  const p = new SseParser();
  const items = [];
  for (let i = 0; i < text.length; i += chunk === Infinity ? text.length : chunk) {
    items.push(...p.push(text.slice(i, chunk === Infinity ? undefined : i + chunk)));
  }
  return { p, items };
}

const STREAM = '\uFEFF: comment\n\nevent: put\nid: 7\ndata: a\ndata:b\n\ndata: no type\n\nevent: reconnect\ndata\n\n';
const EXPECTED = [['put', 'a\nb', '7'], ['', 'no type', '7'], ['reconnect', '', '7']];

test('LF, CRLF and CR streams, whole and byte by byte', () => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const text = STREAM.replaceAll('\n', eol);
    for (const chunk of [Infinity, 1, 2, 3]) {
      assert.deepEqual(events(parseAll(text, chunk).items), EXPECTED, `${JSON.stringify(eol)} / ${chunk}`);
    }
  }
});

test('comments, retry, ids with NUL, no data, partial event at the end', () => {
  const { p, items } = parseAll(': hi\nretry: 2500\nretry: x1\nid: a\0b\nevent: x\n\ndata: tail');
  assert.deepEqual(items, [{ type: 'comment', text: 'hi' }, { type: 'retry', ms: 2500 }]);
  assert.equal(p.lastEventId, '');
  p.resetConnection();
  assert.deepEqual(p.push('\n\n'), []);
});

test('an oversized event is reported, not kept', () => {
  const p = new SseParser({ maxEventChars: 10 });
  assert.deepEqual(p.push('event: put\ndata: 0123456789abc\n\ndata: ok\n\n'), [
    { type: 'oversized', event: 'put' },
    { type: 'event', event: '', data: 'ok', id: null },
  ]);
});
