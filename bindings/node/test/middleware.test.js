'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const http = require('http');
const edgekey = require('..');

const table = process.env.EDGEKEY_CONFORMANCE_TABLE;
const tokens = JSON.parse(fs.readFileSync(process.env.EDGEKEY_CONFORMANCE_TOKENS, 'utf8'));

function serve(check) {
  const server = http.createServer((req, res) => check(req, res, () => {
    res.end(`hello ${req.edgekey.keyId} ${req.edgekey.role}`);
  }));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function get(server, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.address().port, path: '/', headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('http middleware answers as the socket does', async () => {
  const v = edgekey.open(table);
  const server = await serve(edgekey.middleware(v, { permission: 'agents:deploy' }));
  try {
    let r = await get(server, { Authorization: `Bearer ${tokens.sk_live_dev}` });
    assert.deepStrictEqual([r.status, r.body], [200, 'hello key_conf_dev developer']);

    r = await get(server, {});
    assert.strictEqual(r.status, 401);
    assert.strictEqual(r.headers['www-authenticate'], 'Bearer');
    assert.deepStrictEqual(JSON.parse(r.body), { status: 401, code: 'missing_token' });

    r = await get(server, { Authorization: `Bearer ${tokens.sk_live_expiring}`, 'X-Other': 'x' });
    assert.strictEqual(r.status, 200);
    r = await get(server, { Authorization: `Bearer ${tokens.sk_test_analyst}` });
    assert.strictEqual(r.status, 403);
    assert.strictEqual(r.headers['x-edgekey-code'], 'insufficient_permission');
    assert.deepStrictEqual(JSON.parse(r.body), { status: 403, code: 'insufficient_permission',
      key_id: 'key_conf_analyst', workspace: 'ws_lunar', type: 'secret', env: 'test', role: 'analyst', expires_at: null });

    // The peer is 127.0.0.1: outside the key's CIDRs.
    r = await get(server, { Authorization: `Bearer ${tokens.sk_live_cidr}` });
    assert.strictEqual(JSON.parse(r.body).code, 'ip_not_allowed');
  } finally {
    server.close();
  }
  v.close();
  const closed = await serve(edgekey.middleware(v, {}));
  try {
    const r = await get(closed, { Authorization: `Bearer ${tokens.sk_live_dev}` });
    assert.deepStrictEqual([r.status, JSON.parse(r.body).code], [503, 'keyset_unavailable']);
  } finally {
    closed.close();
  }
});

test('permission as a function of the request', async () => {
  const v = edgekey.open(table);
  const server = await serve(edgekey.middleware(v, { permission: (req) => (req.url === '/' ? 'billing:manage' : null) }));
  try {
    const r = await get(server, { Authorization: `Bearer ${tokens.sk_live_expired}` });
    assert.strictEqual(r.status, 401);
    assert.deepStrictEqual(JSON.parse(r.body), { status: 401, code: 'expired_key', key_id: 'key_conf_expired',
      workspace: 'ws_solar', type: 'secret', env: 'live', role: 'developer', expires_at: '2020-01-01T00:00:00Z' });
  } finally {
    server.close();
  }
  v.close();
});
