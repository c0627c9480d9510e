// Snapshot and restore (the component's `state` export) through both clients: a round trip
// brings the state back (later puts yield only real differences), `announce` tells the handler
// (per callback and batched), a refused snapshot throws RestoreError and changes nothing, wrong
// arguments throw TypeError, and a trap during a restore is a trap like any other.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AutoconfigClient, Component, MAX_SNAPSHOT_BYTES, RestoreError, StreamClient, TrapError, jsonLinesHandler, parseBatch, parseLogs,
} from '../lib/autoconfig.mjs';
import { environment } from '../lib/bench-data.mjs';

const component = await Component.load();
const T = 1796000000000n;
/** When the old SDK key of environment 1 expires. */
const EXPIRES = T + 60_000n;
const STREAM = { key: 'rel-key-0001', streamUri: 'http://stream.test', jitterSeed: 1n };

/** Environment `i` in the wire format (bench-data's); environment 1 has an old SDK key expiring at EXPIRES. */
function wire(i, version = 1) {
  const env = environment(i, version);
  if (i === 1) env.sdkKey = { ...env.sdkKey, expiring: { value: 'sdk-old-1', timestamp: Number(EXPIRES) } };
  return env;
}
const id = (i) => wire(i).envId;
/** The data of a put of environments `ids` (at version 1, or `versions[i]`). */
const put = (ids, versions = {}) =>
  JSON.stringify({ path: '/', data: { environments: Object.fromEntries(ids.map((i) => [id(i), wire(i, versions[i] ?? 1)])) } });
const patch = (i, version) => JSON.stringify({ path: `/environments/${id(i)}`, data: wire(i, version) });
const del = (i, version) => JSON.stringify({ path: `/environments/${id(i)}`, version });
const sseEvent = (name, data, eventId) => new TextEncoder().encode(`event: ${name}\ndata: ${data}\n${eventId ? `id: ${eventId}\n` : ''}\n`);

/** The ids of the adds, updates, deletes and expiries among JSON lines. */
const ops = (out) => out.map((l) => JSON.parse(l)).map((o) => (o.env ? `${o.op} ${o.env.envId}` : o.envId ? `${o.op} ${o.envId}` : o.op));

/** A per-callback client recording its callbacks as JSON lines in `out` (a trap's reset too). */
function recorded(Client = AutoconfigClient) {
  const out = [];
  const handler = { ...jsonLinesHandler((l) => out.push(l)), reset: () => out.push('{"op":"reset"}') };
  return { client: new Client(component, handler), out };
}

/**
 * Feeds `client` the state every test starts from: environments 0-3 (1 with a pending expiry),
 * 2 patched to version 2, 3 deleted at version 5 (a tombstone). `out` is emptied.
 */
function populate(client, out) {
  client.onEvent('put', put([0, 1, 2, 3]), T);
  client.onEvent('patch', patch(2, 2), T + 1n);
  client.onEvent('delete', del(3, 5), T + 2n);
  assert.deepEqual(ops(out.splice(0)), [`add ${id(0)}`, `add ${id(1)}`, `add ${id(2)}`, `add ${id(3)}`, 'ready', `update ${id(2)}`, `delete ${id(3)}`]);
}

/** The counts `populate` leaves. */
const POPULATED = { environments: 3, tombstones: 1, pendingExpiries: 1, nextDeadline: EXPIRES, lastEventId: null };

/** The snapshot of a populated client. */
function populatedSnapshot() {
  const { client, out } = recorded();
  populate(client, out);
  return client.snapshot();
}

/**
 * Checks that `client` still has the populated state: the first put again brings nothing new
 * (environment 2 is at version 2, 3 is remembered as deleted), only `ready`.
 */
function assertPopulated(client, out) {
  client.onEvent('put', put([0, 1, 2, 3]), T + 100n);
  assert.deepEqual(ops(out.splice(0)), ['ready'], 'the same put brings nothing new');
}

// ---- snapshot format (types/src/snapshot.rs), to build snapshots the component must refuse ----

/** CRC-32 (IEEE, as zlib's). */
function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A snapshot of `payload` (a JSON value) with a valid header of format `version`. */
function encode(payload, version = 1) {
  const body = Buffer.from(JSON.stringify(payload));
  const header = Buffer.alloc(24);
  header.write('RACSNAP\n', 0, 'latin1');
  header.writeUInt32LE(version, 8);
  header.writeBigUInt64LE(BigInt(body.length), 12);
  header.writeUInt32LE(crc32(body), 20);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** The payload of a snapshot (its JSON after the 24-byte header). */
const payloadOf = (bytes) => JSON.parse(Buffer.from(bytes.subarray(24)).toString('utf8'));

test('snapshot: the documented format (RACSNAP header, version 1, length, CRC-32, JSON payload)', () => {
  const bytes = populatedSnapshot();
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(Buffer.from(bytes.subarray(0, 8)).toString('latin1'), 'RACSNAP\n');
  assert.deepEqual(encode(payloadOf(bytes)), bytes, 'the header re-encoded from the payload is the same');
  const { environments, tombstones, lastEventId } = payloadOf(bytes);
  assert.deepEqual(environments.map((e) => [e.envId, e.version, e.timerPending]), [[id(0), 1, false], [id(1), 1, true], [id(2), 2, false]]);
  assert.deepEqual(tombstones, [{ envId: id(3), version: 5 }]);
  assert.equal(lastEventId, null);
});

test('round trip: a new client restores silently, with the same counts, deadline, environments and deletions', () => {
  const bytes = populatedSnapshot();
  const { client, out } = recorded();
  client.onEvent('put', put([7]), T);
  out.length = 0;

  assert.deepEqual(client.restore(bytes), POPULATED);
  assert.deepEqual(out, [], 'a silent restore makes no callback');
  assert.equal(client.nextDeadline, EXPIRES, 'nextDeadline is the restored one');
  assert.deepEqual(client.snapshot(), bytes, 'snapshot -> restore -> snapshot is stable');

  // The state came back (and replaced environment 7: no delete of it below).
  assertPopulated(client, out);
  // A put without environment 0 deletes exactly it.
  client.onEvent('put', put([1, 2, 3], { 2: 2 }), T + 200n);
  assert.deepEqual(ops(out.splice(0)), [`delete ${id(0)}`, 'ready']);
  // The pending expiry came back too.
  assert.equal(client.tick(EXPIRES), null);
  assert.deepEqual(out.splice(0), [`{"op":"key-expired","envId":"${id(1)}","oldKey":"sdk-old-1"}`]);
});

test('round trip: a Buffer (as readFileSync gives, at an offset in a shared pool) is restored too', () => {
  const bytes = populatedSnapshot();
  const pooled = Buffer.concat([Buffer.from('garbage before'), bytes, Buffer.from('after')]).subarray(14, 14 + bytes.length);
  assert.ok(pooled.byteOffset > 0);
  const { client, out } = recorded();
  assert.deepEqual(client.restore(pooled, {}), POPULATED);
  assertPopulated(client, out);
});

test('announce: an add per environment by ascending env id, then ready; per callback and batched, the same bytes', () => {
  const bytes = populatedSnapshot();
  const { client, out } = recorded();
  assert.deepEqual(client.restore(bytes, { announce: true }), POPULATED);
  assert.deepEqual(ops(out), [`add ${id(0)}`, `add ${id(1)}`, `add ${id(2)}`, 'ready']);
  const announced = out.slice(0, 3).map((l) => JSON.parse(l).env);
  assert.deepEqual(announced[1].expiringSdkKey, { key: 'sdk-old-1', expiresAt: Number(EXPIRES) });
  assert.equal(announced[2].version, 2);

  const batches = [];
  const logs = [];
  const batched = new AutoconfigClient(component, { batch: (t) => batches.push(t), logs: (t) => logs.push(...parseLogs(t)) });
  assert.deepEqual(batched.restore(bytes, { announce: true }), POPULATED);
  assert.deepEqual(batches, [`${out.join('\n')}\n`], 'one delivery, before restore returns, the lines jsonLinesHandler wrote');
  assert.deepEqual(parseBatch(batches[0]).map((c) => c.op), ['add', 'add', 'add', 'ready']);
  assert.ok(logs.some(([lv, m]) => lv === 'info' && m.startsWith('Restored 3 environment(s)')), JSON.stringify(logs));
  // Silent, batched: no delivery; the state is there all the same.
  batches.length = 0;
  assert.deepEqual(batched.restore(bytes, { announce: false }), POPULATED);
  assert.deepEqual(batches, []);
  batched.onEvent('put', put([0, 1, 2, 3]), T + 100n);
  assert.deepEqual(batches, ['{"op":"ready"}\n']);
});

test('refused snapshots throw RestoreError with the reason, make no callback and change nothing', () => {
  const bytes = populatedSnapshot();
  const flipped = bytes.slice();
  flipped[40] ^= 0x01;
  const newer = bytes.slice();
  new DataView(newer.buffer).setUint32(8, 2, true);
  const random = Uint8Array.from({ length: 300 }, (_, i) => (i * 73 + 41) & 0xff);
  const env = payloadOf(bytes).environments[0];
  const cases = [
    ['empty', new Uint8Array(0), /truncated: 0 bytes of 24/],
    ['the header only', bytes.subarray(0, 24), /truncated: 24 bytes of \d+/],
    ['truncated by one byte', bytes.subarray(0, bytes.length - 1), /truncated/],
    ['a byte flipped in the payload', flipped, /corrupt: the checksum does not match/],
    ['a byte appended', Uint8Array.of(...bytes, 0x20), /corrupt: bytes follow the payload/],
    ['random bytes', random, /not a relay-autoconfig snapshot/],
    ['a newer format version', newer, /format version 2; this component reads versions 1 to 1/],
    ['a newer format version, well formed', encode(payloadOf(bytes), 2), /format version 2/],
    ['an unknown field', encode({ ...payloadOf(bytes), extra: 1 }), /invalid: unknown field `extra`/],
    ['an environment twice', encode({ environments: [env, env], tombstones: [], lastEventId: null }), /invalid: environment .* appears twice/],
  ];

  const { client, out } = recorded();
  populate(client, out);
  for (const [what, bad, reason] of cases) {
    assert.throws(() => client.restore(bad, { announce: true }), (e) => {
      assert.ok(e instanceof RestoreError && !(e instanceof TrapError), `${what}: ${e}`);
      assert.equal(e.name, 'RestoreError');
      assert.match(e.message, reason, what);
      return true;
    });
  }
  assert.deepEqual(out, [], 'no callback (no reset either)');
  assert.equal(client.nextDeadline, EXPIRES, 'nextDeadline unchanged');
  assert.deepEqual(client.snapshot(), bytes, 'the state unchanged');
  assertPopulated(client, out);

  // Batched: a refusal delivers nothing.
  const batches = [];
  const batched = new AutoconfigClient(component, { batch: (t) => batches.push(t) });
  for (const [what, bad] of cases) assert.throws(() => batched.restore(bad, { announce: true }), RestoreError, what);
  assert.deepEqual(batches, []);
});

test(`a snapshot over MAX_SNAPSHOT_BYTES (${MAX_SNAPSHOT_BYTES}) is refused before the component is entered`, () => {
  const { client, out } = recorded();
  populate(client, out);
  const huge = new Uint8Array(MAX_SNAPSHOT_BYTES + 1);
  // All zeros: the component itself would say it is not a snapshot; the library says it is too big.
  assert.throws(() => client.restore(huge), (e) => e instanceof RestoreError && /over the limit of 268435456/.test(e.message));
  assertPopulated(client, out);
});

test('wrong arguments throw a one-line TypeError before the component is entered; the client still works', () => {
  const bytes = populatedSnapshot();
  for (const Client of [AutoconfigClient, StreamClient]) {
    const { client, out } = recorded(Client);
    const bad = [
      () => client.restore(Buffer.from(bytes).toString('latin1')),
      () => client.restore([...bytes]),
      () => client.restore(bytes.buffer),
      () => client.restore(new DataView(bytes.buffer)),
      () => client.restore(undefined),
      () => client.restore(null, {}),
      () => client.restore(bytes, null),
      () => client.restore(bytes, true),
      () => client.restore(bytes, []),
      () => client.restore(bytes, { announce: 'yes' }),
      () => client.restore(bytes, { announce: 1 }),
      () => client.restore(bytes, { announce: null }),
      () => client.restore(bytes, { annonce: true }),
    ];
    for (const call of bad) {
      assert.throws(call, (e) => e instanceof TypeError && !e.message.includes('\n') && /^(snapshot|options)\b/.test(e.message), `${Client.name}: ${call}`);
    }
    assert.deepEqual(out, [], `${Client.name}: no callback, no reset`);
    // The same instance, still empty, restores and announces.
    assert.deepEqual(client.restore(bytes, { announce: true }), POPULATED);
    assert.deepEqual(ops(out), [`add ${id(0)}`, `add ${id(1)}`, `add ${id(2)}`, 'ready']);
  }
});

test('a view of a detached ArrayBuffer is refused as an empty snapshot, not a trap: the state stays', () => {
  const bytes = populatedSnapshot();
  const { client, out } = recorded(AutoconfigClient);
  client.restore(bytes);
  const view = new Uint8Array(bytes);
  structuredClone(view.buffer, { transfer: [view.buffer] }); // detaches it under the view
  assert.throws(() => client.restore(view), (e) => e instanceof RestoreError && /truncated/.test(e.message));
  assert.deepEqual(out, [], 'no reset');
  assert.deepEqual(client.restore(client.snapshot()), POPULATED, 'the state is all there');
});

test('a trap during an announced restore is a trap: reset, TrapError, a fresh empty instance', () => {
  const bytes = populatedSnapshot();
  const out = [];
  let fail = false;
  const base = jsonLinesHandler((l) => out.push(l));
  const client = new AutoconfigClient(component, {
    ...base,
    addEnvironment: (p) => {
      if (fail) throw new Error('boom');
      base.addEnvironment(p);
    },
    reset: () => out.push('{"op":"reset"}'),
  });
  populate(client, out);
  assert.equal(client.nextDeadline, EXPIRES);
  fail = true;
  assert.throws(() => client.restore(bytes, { announce: true }), TrapError);
  assert.deepEqual(out.splice(0), ['{"op":"reset"}']);
  assert.equal(client.nextDeadline, null, 'the fresh instance has no timer');
  fail = false;
  // A fresh instance: nothing restored, the put adds everything.
  assert.deepEqual(payloadOf(client.snapshot()), { environments: [], tombstones: [], lastEventId: null });
  client.onEvent('put', put([0]), T);
  assert.deepEqual(ops(out), [`add ${id(0)}`, 'ready']);

  // Batched: a `batch` that throws is a trap; nothing of the call is delivered.
  const resets = [];
  const batched = new AutoconfigClient(component, {
    batch: () => {
      throw new Error('sink failed');
    },
    reset: () => resets.push('reset'),
  });
  assert.throws(() => batched.restore(bytes, { announce: true }), TrapError);
  assert.deepEqual(resets, ['reset']);
  assert.equal(batched.nextDeadline, null);
  assert.equal(batched.restore(bytes).environments, 3, 'a silent restore (no batch) works on the fresh instance');
});

test('StreamClient: a round trip carries the last event id to the first start, and the expiry to its step', () => {
  const source = recorded(StreamClient);
  source.client.start(STREAM, T);
  source.client.onResponse(200, 'text/event-stream', null, T);
  const seen = source.client.onBody(sseEvent('put', put([0, 1, 2]), 'ev-42'), T + 1n);
  assert.equal(seen.lastEventId, 'ev-42');
  const bytes = source.client.snapshot();
  assert.equal(payloadOf(bytes).lastEventId, 'ev-42');

  const { client, out } = recorded(StreamClient);
  assert.deepEqual(client.restore(bytes), { environments: 3, tombstones: 0, pendingExpiries: 1, nextDeadline: EXPIRES, lastEventId: 'ev-42' });
  assert.deepEqual(out, []);
  const step = client.start(STREAM, T + 10n);
  assert.deepEqual(step.connect.headers.at(-1), ['Last-Event-ID', 'ev-42'], 'the first start resumes from the restored id');
  assert.equal(step.nextDeadline, EXPIRES, 'the restored expiry is the next deadline (before the read timeout)');
  client.onResponse(200, 'text/event-stream', null, T + 11n);
  client.onBody(sseEvent('put', put([0, 2])), T + 12n);
  assert.deepEqual(ops(out.splice(0)), [`delete ${id(1)}`, 'ready'], 'only the real difference');
});

test('StreamClient: restored into a client already started, its stream keeps its own event id', () => {
  const bytes = encode({ environments: [], tombstones: [], lastEventId: 'ev-old' });
  const { client } = recorded(StreamClient);
  assert.equal(client.start(STREAM, T).connect.headers.length, 3);
  assert.equal(client.restore(bytes).lastEventId, 'ev-old');
  const step = client.start(STREAM, T + 1n);
  assert.deepEqual(step.connect.headers.map(([name]) => name), ['Authorization', 'Accept', 'Cache-Control']);
});
