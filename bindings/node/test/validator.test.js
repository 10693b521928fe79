'use strict';
// Runs under tests/conformance's conformance_env (phase live): a real
// edgekeyd serves the case file's keyset; the tokens are the ones it minted.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { Worker } = require('worker_threads');
const edgekey = require('..');

const table = process.env.EDGEKEY_CONFORMANCE_TABLE;
if (!table) throw new Error('EDGEKEY_CONFORMANCE_TABLE is not set: run through conformance_env (ctest -R bindings_node)');
const tokens = JSON.parse(fs.readFileSync(process.env.EDGEKEY_CONFORMANCE_TOKENS, 'utf8'));

test('a valid key and its fields', () => {
  const v = edgekey.open(table);
  const r = v.validate(`Bearer ${tokens.sk_live_dev}`, { permission: 'agents:deploy', clientIp: '203.0.113.7' });
  assert.deepStrictEqual(r, { status: 200, code: 'ok', ok: true, keyId: 'key_conf_dev', workspace: 'ws_solar',
                              role: 'developer', type: 'secret', env: 'live', expiresAt: null });
  assert.strictEqual(v.validate(tokens.sk_live_expiring).expiresAt, 4070908800);
  v.close();
});

test('refusals: key fields only where a key was found', () => {
  const v = edgekey.open(table);
  const r = v.validate(`Bearer ${tokens.pk_live_web}`, { permission: 'chat:write', origin: 'https://evil.example.com' });
  assert.strictEqual(r.code, 'origin_not_allowed');
  assert.strictEqual(r.status, 403);
  assert.strictEqual(r.keyId, 'key_conf_pk_live');
  assert.strictEqual(r.type, 'publishable');
  const u = v.validate(`Bearer ${tokens.sk_live_unknown}`);
  assert.deepStrictEqual([u.status, u.code, u.keyId, u.type, u.expiresAt], [401, 'unknown_key', null, null, null]);
  v.close();
});

test('bad input: a clear error or the C API\'s 401, never a crash', () => {
  const v = edgekey.open(table);
  for (const none of [undefined, null, '']) assert.strictEqual(v.validate(none).code, 'missing_token');
  assert.strictEqual(v.validate().code, 'missing_token');
  for (const bad of [42, {}, [], true, Symbol('x'), () => 1, Buffer.from('x')]) {
    assert.throws(() => v.validate(bad), TypeError);
    assert.throws(() => v.validate(tokens.sk_live_dev, { permission: bad }), TypeError);
    assert.throws(() => v.validate(tokens.sk_live_dev, { clientIp: bad }), TypeError);
  }
  assert.throws(() => v.validate(tokens.sk_live_dev, 'chat:write'), TypeError);
  assert.throws(() => v.validate(`Bearer ${tokens.sk_live_dev}\0x`), /NUL/);
  assert.throws(() => v.validate(tokens.sk_live_dev, { origin: 'https://a\0b' }), /NUL/);
  const big = v.validate('Bearer ' + 'A'.repeat(1 << 20));
  assert.deepStrictEqual([big.status, big.code], [401, 'malformed_token']);
  const long = v.validate(tokens.sk_live_dev, { permission: 'p'.repeat(1 << 20), origin: 'o'.repeat(1 << 20) });
  assert.deepStrictEqual([long.status, long.code], [403, 'insufficient_permission']);
  assert.strictEqual(v.validate(tokens.sk_live_dev).code, 'ok');  // buffers grew, answers unchanged
  v.close();
});

test('open errors carry the ek_err code', () => {
  assert.throws(() => edgekey.open(`ekconf-no-such-table-${process.pid}`),
                (e) => e instanceof Error && e.code === -2 && /edgekeyd is running/.test(e.message));
  assert.throws(() => edgekey.open(undefined), TypeError);
  assert.throws(() => edgekey.open('a\0b'), (e) => e.code === -1);
});

test('use after close throws', () => {
  const v = edgekey.open(table);
  assert.ok(v.validate(tokens.sk_live_dev).ok);
  v.close();
  assert.ok(v.closed);
  assert.throws(() => v.validate(tokens.sk_live_dev), /closed/);
  v.close();  // idempotent
});

test('worker threads each open their own validator', async () => {
  const code = `
    const { parentPort, workerData } = require('worker_threads');
    const edgekey = require(workerData.pkg);
    const v = edgekey.open(workerData.table);
    let ok = 0;
    for (let i = 0; i < 2000; ++i) if (v.validate(workerData.token).keyId === 'key_conf_dev') ++ok;
    v.close();
    parentPort.postMessage(ok);`;
  const runs = [1, 2, 3].map(() => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { pkg: path.resolve(__dirname, '..'), table,
                                                           token: `Bearer ${tokens.sk_live_dev}` } });
    w.on('message', resolve);
    w.on('error', reject);
  }));
  assert.deepStrictEqual(await Promise.all(runs), [2000, 2000, 2000]);
});
