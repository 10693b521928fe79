'use strict';
// edgekey: validate API keys in-process against edgekeyd's shared table.
//
//   const edgekey = require('edgekey');
//   const v = edgekey.open('edgekey-in-mum');        // throws an Error with .code
//   const r = v.validate(req.headers.authorization, { permission: 'chat:write', clientIp, origin });
//   if (!r.ok) deny(r.status, r.code);                // 401/403/503, 'revoked_key'
//   v.close();
//
// A validator belongs to the thread that opened it: worker threads each open
// their own (opening is cheap: two read-only mappings).
const path = require('path');

function loadAddon() {
  const tried = [];
  const candidates = [process.env.EDGEKEY_NODE_ADDON, path.join(__dirname, 'build', 'Release', 'edgekey.node')];
  for (const file of candidates) {
    if (!file) continue;
    try {
      return require(file);
    } catch (e) {
      tried.push(`${file}: ${e.message}`);
    }
  }
  throw new Error(`edgekey: cannot load the native addon (${tried.join('; ')}): ` +
                  'build it with `npm install` in bindings/node, or set EDGEKEY_NODE_ADDON');
}

const native = loadAddon();
const CODES = native.codes;
const TYPES = [null, 'secret', 'publishable'];
const ENVS = [null, 'live', 'test'];

const NO_OPTIONS = Object.freeze({});

class Validator {
  #fn;     // the addon's validate, bound to one C validator; null once closed
  #out;
  #out64;

  constructor(table) {
    if (typeof table !== 'string') throw new TypeError('edgekey.open: the table name must be a string');
    this.#fn = native.open(table);
    this.#out = this.#fn.out;
    this.#out64 = this.#fn.out64;
  }

  // authorization: the header value ('Bearer <token>' or the bare token;
  // undefined/null = none: 401 missing_token). options: permission (what the
  // operation needs), clientIp, origin, env ('live'/'test'); each optional.
  // Returns { status, code, ok, keyId, workspace, role, type, env, expiresAt }:
  // key fields null when no key was found, expiresAt (unix seconds) null = never.
  // A TypeError for a value that is not a string, undefined or null, or holds
  // a NUL (the addon checks them).
  validate(authorization, options) {
    const o = options === undefined || options === null ? NO_OPTIONS : options;
    if (typeof o !== 'object') throw new TypeError('edgekey: validate options must be an object');
    const fn = this.#fn;
    if (fn === null) throw new Error('edgekey: validate() on a closed validator');
    const permission = o.permission, clientIp = o.clientIp, origin = o.origin, env = o.env;
    // Arguments left out cost the addon nothing (undefined ones cost a type check).
    const ids = clientIp === undefined && origin === undefined && env === undefined
      ? (permission === undefined ? fn(authorization) : fn(authorization, permission))
      : fn(authorization, permission, clientIp, origin, env);
    const out = this.#out;
    const status = out[0];
    if (ids === undefined) {
      return { status, code: CODES[out[1]], ok: status === 200, keyId: null, workspace: null, role: null,
               type: null, env: null, expiresAt: null };
    }
    let i = out[4], j;
    if (i >= 0) {  // ASCII names, back to back
      j = i + out[5];
    } else {       // NUL-separated
      i = ids.indexOf('\0');
      j = ids.indexOf('\0', i + 1);
      return this.#result(status, ids.slice(0, i), ids.slice(i + 1, j), ids.slice(j + 1));
    }
    return this.#result(status, ids.slice(0, i), ids.slice(i, j), ids.slice(j));
  }

  #result(status, keyId, workspace, role) {
    const out = this.#out;
    const exp = this.#out64[0];
    return { status, code: CODES[out[1]], ok: status === 200, keyId, workspace: workspace || null,
             role: role || null, type: TYPES[out[2]] ?? null, env: ENVS[out[3]] ?? null,
             expiresAt: exp === 0 ? null : exp };
  }

  get closed() { return this.#fn === null; }

  // Releases the table; validate() then throws. Idempotent.
  close() {
    if (this.#fn !== null) native.close(this.#fn);
    this.#fn = null;
  }
}

// Opens the table (edgekey.yaml's table.name, or its path under
// table.directory). Throws an Error whose .code is the negative ek_err.
function open(table) {
  return new Validator(table);
}

module.exports = { open, Validator, codes: CODES, middleware: require('./middleware').middleware };
