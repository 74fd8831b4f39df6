// End-to-end tests of the echo shim from Node.js: @grpc/grpc-js with the .proto
// loaded at test time by @grpc/proto-loader.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { startShim } from './shim.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const protoDir = path.resolve(here, '..', '..', '..', 'proto', 'examples');

const def = protoLoader.loadSync(path.join(protoDir, 'echo.proto'), {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  defaults: true,
});
const { Echo } = grpc.loadPackageDefinition(def).shimkit.examples.v1;

let shim;
let client;
const deadline = (ms = 10000) => new Date(Date.now() + ms);

before(async () => {
  shim = await startShim(['--name', 'e2e-node']);
  client = new Echo(shim.target, grpc.credentials.createInsecure());
});

after(async () => {
  client?.close();
  if (shim) assert.equal(await shim.stop(), 0, `shim exit code on SIGTERM; log:\n${shim.log()}`);
});

function unary(method, req, metadata = new grpc.Metadata(), ms = 10000) {
  // Resolves once both the reply (or error) and the final status with trailers are in.
  return new Promise((resolve, reject) => {
    let headers; let result; let status;
    const settle = () => {
      if (!result || !status) return;
      if (result.err) reject(result.err); else resolve({ reply: result.reply, headers, trailers: status.metadata });
    };
    const call = client[method](req, metadata, { deadline: deadline(ms) }, (err, reply) => {
      result = { err, reply };
      settle();
    });
    call.on('metadata', (md) => { headers = md; });
    call.on('status', (st) => { status = st; settle(); });
  });
}

function readAll(call) {
  return new Promise((resolve, reject) => {
    const out = []; let headers;
    call.on('metadata', (md) => { headers = md; });
    call.on('data', (m) => out.push(m));
    call.on('error', reject);
    call.on('status', (st) => { if (st.code === grpc.status.OK) resolve({ replies: out, headers, trailers: st.metadata }); });
  });
}

test('Say echoes message, index, time and served_by', async () => {
  const { reply } = await unary('Say', { message: 'hello from node' });
  assert.equal(reply.message, 'hello from node');
  assert.equal(reply.index, 0);
  assert.equal(reply.served_by, 'e2e-node');
  assert.ok(Number(reply.handled_at.seconds) > 1600000000, `handled_at ${JSON.stringify(reply.handled_at)}`);
});

test('Expand streams count replies in order', async () => {
  const call = client.Expand({ message: 'tick', count: 4, interval_ms: 5 }, { deadline: deadline() });
  const { replies } = await readAll(call);
  assert.deepEqual(replies.map((r) => [r.message, r.index]), [['tick', 0], ['tick', 1], ['tick', 2], ['tick', 3]]);
});

test('Collect joins the client stream with spaces', async () => {
  const reply = await new Promise((resolve, reject) => {
    const call = client.Collect({ deadline: deadline() }, (err, r) => (err ? reject(err) : resolve(r)));
    for (const m of ['alpha', 'beta', 'gamma']) call.write({ message: m });
    call.end();
  });
  assert.equal(reply.joined, 'alpha beta gamma');
  assert.equal(reply.count, 3);
});

test('Chat answers each message before the next is sent', async () => {
  const call = client.Chat({ deadline: deadline() });
  const got = [];
  const next = () => new Promise((resolve, reject) => {
    call.once('data', resolve);
    call.once('error', reject);
  });
  for (const m of ['one', 'two', 'three']) {
    const p = next();
    call.write({ message: m });
    const r = await p;
    got.push([r.message, r.index]);
  }
  const done = new Promise((resolve) => call.on('status', resolve));
  call.end();
  const st = await done;
  assert.equal(st.code, grpc.status.OK);
  assert.deepEqual(got, [['one', 0], ['two', 1], ['three', 2]]);
});

test('metadata: x-echo-* comes back as headers and as -trailer trailers', async () => {
  const md = new grpc.Metadata();
  md.set('x-echo-a', '1');
  md.set('x-echo-user', 'node');
  md.set('x-not-echoed', 'no');
  const { reply, headers, trailers } = await unary('Say', { message: 'md' }, md);
  assert.equal(reply.message, 'md');
  assert.deepEqual(headers.get('x-echo-a'), ['1']);
  assert.deepEqual(headers.get('x-echo-user'), ['node']);
  assert.deepEqual(headers.get('x-not-echoed'), []);
  assert.deepEqual(trailers.get('x-echo-a-trailer'), ['1']);
  assert.deepEqual(trailers.get('x-echo-user-trailer'), ['node']);
  assert.deepEqual(trailers.get('x-echo-a'), []);
});

test('metadata on a server stream', async () => {
  const md = new grpc.Metadata();
  md.set('x-echo-trace', 'abc');
  const { replies, headers, trailers } = await readAll(client.Expand({ message: 'm', count: 2 }, md, { deadline: deadline() }));
  assert.equal(replies.length, 2);
  assert.deepEqual(headers.get('x-echo-trace'), ['abc']);
  assert.deepEqual(trailers.get('x-echo-trace-trailer'), ['abc']);
});

test('error status with message', async () => {
  await assert.rejects(unary('Say', { message: 'x', fail_code: 7, fail_message: 'not for you' }), (err) => {
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.equal(err.details, 'not for you');
    return true;
  });
});

test('deadline exceeded', async () => {
  await assert.rejects(unary('Say', { message: 'slow', delay_ms: 5000 }, new grpc.Metadata(), 300), (err) => {
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    return true;
  });
  const { reply } = await unary('Say', { message: 'after' });
  assert.equal(reply.message, 'after');
});

test('unknown method is UNIMPLEMENTED', async () => {
  const generic = new grpc.Client(shim.target, grpc.credentials.createInsecure());
  const id = (b) => b;
  try {
    await assert.rejects(new Promise((resolve, reject) => {
      generic.makeUnaryRequest('/shimkit.examples.v1.Echo/NoSuchMethod', id, id, Buffer.alloc(0),
        { deadline: deadline() }, (err, r) => (err ? reject(err) : resolve(r)));
    }), (err) => { assert.equal(err.code, grpc.status.UNIMPLEMENTED); return true; });
  } finally {
    generic.close();
  }
});
