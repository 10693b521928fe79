'use strict';
// A middleware for Node's http (and so Express and Connect), no dependency:
//
//   const check = edgekey.middleware(v, { permission: 'chat:write' });
//   http.createServer((req, res) => check(req, res, () => handler(req, res)));
//   app.use(edgekey.middleware(v, { permission: (req) => needed(req) }));   // Express
//
// A refused request gets what edgekeyd's socket answers (401/403/503, JSON
// body {status, code, key fields}, X-Edgekey-Code, WWW-Authenticate: Bearer
// on 401); an accepted one gets req.edgekey (the result) and next().
// options: permission (string or function(req)), env, clientIp (function(req);
// default req.socket.remoteAddress: behind a proxy, read the proxy's header).

function isoTime(t) {
  return t === null ? null : new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

function refuse(res, r) {
  const body = { status: r.status, code: r.code };
  const headers = { 'Content-Type': 'application/json', 'X-Edgekey-Code': r.code };
  if (r.status === 401) headers['WWW-Authenticate'] = 'Bearer';
  if (r.keyId) {
    Object.assign(body, { key_id: r.keyId, workspace: r.workspace, type: r.type, env: r.env, role: r.role,
                          expires_at: isoTime(r.expiresAt) });
    Object.assign(headers, { 'X-Edgekey-Key-Id': r.keyId, 'X-Edgekey-Workspace': r.workspace,
                             'X-Edgekey-Role': r.role || '', 'X-Edgekey-Type': r.type || '',
                             'X-Edgekey-Env': r.env || '' });
  }
  const text = JSON.stringify(body) + '\n';
  headers['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(r.status, headers);
  res.end(text);
}

// A dual-stack server reports IPv4 peers as '::ffff:a.b.c.d': the IPv4 address.
function peerAddress(req) {
  const a = req.socket.remoteAddress;
  return a && a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function middleware(validator, options = {}) {
  const { permission, env, clientIp } = options;
  return function edgekeyMiddleware(req, res, next) {
    const raw = req.rawHeaders;
    let auth = 0;
    for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'authorization') ++auth;
    let r;
    if (auth > 1) {  // ambiguous: which key? (the socket answers the same)
      r = { status: 401, code: 'malformed_token', keyId: null };
    } else {
      try {
        r = validator.validate(req.headers.authorization, {
          permission: typeof permission === 'function' ? permission(req) : permission,
          clientIp: clientIp ? clientIp(req) : peerAddress(req),
          origin: req.headers.origin,
          env,
        });
      } catch (e) {
        // a closed validator: nothing to answer from; a NUL cannot come from http
        r = { status: 503, code: 'keyset_unavailable', keyId: null };
      }
    }
    if (r.status !== 200) return refuse(res, r);
    req.edgekey = r;
    if (typeof next === 'function') next();
  };
}

module.exports = { middleware };
