'use strict';
// The Node.js binding's conformance runner (contract: README.md here): every
// case of the phase through edgekey.open(...).validate.
const fs = require('fs');
const edgekey = require(process.env.EDGEKEY_NODE_PACKAGE || 'edgekey');

const FIELDS = { status: 'status', code: 'code', key_id: 'keyId', workspace: 'workspace', role: 'role',
                 type: 'type', env: 'env', expires_at: 'expiresAt' };

function expand(text, tokens) {
  return text.replace(/\{(token|badcheck|truncated):([^}]*)\}/g, (_, kind, name) => {
    const t = tokens[name];
    if (t === undefined) throw new Error(`no token named "${name}"`);
    if (kind === 'badcheck') return t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A');
    if (kind === 'truncated') return t.slice(0, -1);
    return t;
  });
}

const env = process.env;
const doc = JSON.parse(fs.readFileSync(env.EDGEKEY_CONFORMANCE_CASES, 'utf8'));
const tokens = JSON.parse(fs.readFileSync(env.EDGEKEY_CONFORMANCE_TOKENS, 'utf8'));
const phase = env.EDGEKEY_CONFORMANCE_PHASE;
const v = edgekey.open(env.EDGEKEY_CONFORMANCE_TABLE);
let ran = 0, failed = 0;
for (const c of doc.cases) {
  if ((c.phase || 'live') !== phase) continue;
  ++ran;
  const auth = c.authorization == null ? undefined : expand(c.authorization, tokens);
  const r = v.validate(auth, { permission: c.permission, clientIp: c.client_ip, origin: c.origin, env: c.env });
  let ok = true;
  for (const [field, want] of Object.entries(c.expect)) {
    if (!(field in FIELDS)) throw new Error(`unknown expected field ${field}`);
    const got = r[FIELDS[field]];
    if (got === want) continue;
    console.log(`FAIL ${c.name} [node]: ${field} expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    ok = false;
  }
  if (!ok) ++failed;
}
v.close();
console.log(`node path, phase ${phase}: ${ran - failed} of ${ran} cases as expected`);
if (ran === 0) console.log(`FAIL: no case in phase ${phase}`);
process.exit(failed || ran === 0 ? 1 : 0);
