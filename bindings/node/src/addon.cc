// edgekey.node -- libedgekey's C API (edgekey/edgekey.h) for Node.js, with
// node-addon-api (module set-up) and plain N-API on the per-call path, which
// does as few engine calls as it can. index.js wraps it:
//   open(table)                ek_open; returns validate, a function bound to
//                              that validator (its data pointer: no unwrap
//                              per call), with .out (Int32Array) and .out64
//                              (Float64Array) on it; throws an Error whose
//                              .code is the ek_err
//   validate(auth, permission, clientIp, origin, env)
//                              ek_validate; each argument a string or
//                              undefined/null (else a TypeError, as for a
//                              NUL inside). Writes status, code, type, env,
//                              and, when the names are ASCII, the lengths of
//                              key_id and workspace into out, expires_at into
//                              out64; returns key_id + workspace + role as
//                              one string (separated by NULs when out[4] is
//                              -1), or undefined when no key was found.
//   close(validate)            ek_close; validate then throws
// Context-aware: each worker thread loads its own instance and opens its
// own validators (a validator belongs to the thread that opened it).
#include <edgekey/edgekey.h>
#include <napi.h>

#include <cstring>
#include <string>

namespace {

constexpr const char *kArgNames[5] = {"authorization", "permission", "clientIp", "origin", "env"};

// One open validator; owned by its validate function (freed by its finalizer).
struct Native {
  ek_validator *v = nullptr;
  int32_t *out = nullptr;  // status, code, type, env, len(key_id) or -1, len(workspace)
  double *out64 = nullptr;  // expires_at
  std::string heap[5];     // an argument too long for the stack buffer
};

const char *typeof_name(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_function: return "function";
    case napi_bigint: return "bigint";
    default: return "object";  // null, object, external
  }
}

// Argument i as a NUL-terminated UTF-8 string in buf (cap bytes) or in the
// validator's heap[i]; nullptr for undefined/null, or with *bad set (and a
// TypeError pending) for anything else and for an embedded NUL.
const char *arg(napi_env env, Native *n, napi_value v, int i, char *buf, size_t cap, bool *bad) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {  // not a string
    napi_valuetype t = napi_undefined;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) return nullptr;
    const std::string m = std::string("edgekey: ") + kArgNames[i] + " must be a string, undefined or null, not " +
                          typeof_name(t);
    napi_throw_type_error(env, nullptr, m.c_str());
    *bad = true;
    return nullptr;
  }
  // The copy stops at a whole character: up to 3 bytes short of a full buffer.
  if (len + 4 >= cap) {
    napi_get_value_string_utf8(env, v, nullptr, 0, &len);
    std::string &h = n->heap[i];
    if (h.size() < len + 1) h.resize(len + 1);
    napi_get_value_string_utf8(env, v, h.data(), len + 1, &len);
    buf = h.data();
  }
  if (std::memchr(buf, 0, len)) {
    napi_throw_type_error(env, nullptr, (std::string("edgekey: ") + kArgNames[i] + " contains a NUL character").c_str());
    *bad = true;
    return nullptr;
  }
  return buf;
}

napi_value Validate(napi_env env, napi_callback_info info) {
  size_t argc = 5;  // in: argv's size; out: how many the caller passed
  napi_value argv[5];
  void *data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  Native *n = static_cast<Native *>(data);
  if (!n->v) {
    napi_throw_error(env, nullptr, "edgekey: validate() on a closed validator");
    return nullptr;
  }
  // Arguments left out (argc) are NULL without a call into the engine.
  char auth[1024], perm[256], ip[128], origin[512], envb[64];
  bool bad = false;
  ek_request q{};
  if (argc > 0) q.authorization = arg(env, n, argv[0], 0, auth, sizeof auth, &bad);
  if (argc > 1 && !bad) q.permission = arg(env, n, argv[1], 1, perm, sizeof perm, &bad);
  if (argc > 2 && !bad) q.client_ip = arg(env, n, argv[2], 2, ip, sizeof ip, &bad);
  if (argc > 3 && !bad) q.origin = arg(env, n, argv[3], 3, origin, sizeof origin, &bad);
  if (argc > 4 && !bad) q.env = arg(env, n, argv[4], 4, envb, sizeof envb, &bad);
  if (bad) return nullptr;
  ek_result r;
  ek_validate(n->v, &q, &r);
  int32_t *out = n->out;
  out[0] = r.status;
  out[1] = r.code;
  out[2] = r.type;
  out[3] = r.env;
  *n->out64 = double(r.expires_at);
  napi_value s;
  if (!r.key_id[0]) {
    napi_get_undefined(env, &s);
    return s;
  }
  const size_t a = strnlen(r.key_id, sizeof r.key_id), b = strnlen(r.workspace, sizeof r.workspace),
               c = strnlen(r.role, sizeof r.role);
  char ids[sizeof r.key_id + sizeof r.workspace + sizeof r.role];
  std::memcpy(ids, r.key_id, a);
  std::memcpy(ids + a, r.workspace, b);
  std::memcpy(ids + a + b, r.role, c);
  unsigned char high = 0;
  for (size_t i = 0; i < a + b + c; ++i) high |= static_cast<unsigned char>(ids[i]);
  if (high < 0x80) {  // ASCII: one byte per character, the lengths say where each name ends
    out[4] = int32_t(a);
    out[5] = int32_t(b);
    napi_create_string_latin1(env, ids, a + b + c, &s);
    return s;
  }
  // UTF-8: separated by NULs (a name holds none), split in JS
  std::memcpy(ids, r.key_id, a);
  ids[a] = '\0';
  std::memcpy(ids + a + 1, r.workspace, b);
  ids[a + 1 + b] = '\0';
  std::memcpy(ids + a + 2 + b, r.role, c);
  out[4] = -1;
  napi_create_string_utf8(env, ids, a + b + c + 2, &s);
  return s;
}

void Finalize(napi_env, void *data, void *) {
  Native *n = static_cast<Native *>(data);
  if (n->v) ek_close(n->v);
  delete n;
}

Napi::Value Open(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "edgekey.open: the table name must be a string").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  const std::string table = info[0].As<Napi::String>().Utf8Value();
  ek_validator *v = nullptr;
  const int rc = table.find('\0') == std::string::npos ? ek_open(table.c_str(), &v) : EK_ERR_INVALID_ARG;
  if (rc != 0) {
    Napi::Error e = Napi::Error::New(env, ek_strerror(rc));
    e.Set("code", Napi::Number::New(env, rc));
    e.ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Native *n = new Native;
  n->v = v;
  napi_value fn;
  if (napi_create_function(env, "validate", NAPI_AUTO_LENGTH, Validate, n, &fn) != napi_ok ||
      napi_wrap(env, fn, n, Finalize, nullptr, nullptr) != napi_ok) {
    Finalize(env, n, nullptr);
    Napi::Error::New(env, "edgekey.open: cannot create the validator's function").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  // out: 6 int32 at byte 0; out64: a double at byte 24.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, 32);
  n->out = static_cast<int32_t *>(ab.Data());
  n->out64 = reinterpret_cast<double *>(static_cast<char *>(ab.Data()) + 24);
  Napi::Object f(env, fn);
  f.Set("out", Napi::Int32Array::New(env, 6, ab, 0));
  f.Set("out64", Napi::Float64Array::New(env, 1, ab, 24));
  return f;
}

// close(validate): releases the validator; its validate then throws.
Napi::Value Close(const Napi::CallbackInfo &info) {
  void *data = nullptr;
  if (info.Length() < 1 || napi_unwrap(info.Env(), info[0], &data) != napi_ok || !data) {
    Napi::TypeError::New(info.Env(), "edgekey: close() expects a validate function").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Native *n = static_cast<Native *>(data);
  if (n->v) ek_close(n->v);
  n->v = nullptr;
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("close", Napi::Function::New<Close>(env, "close"));
  Napi::Array codes = Napi::Array::New(env, EK_CODE_COUNT_);
  for (uint32_t i = 0; i < EK_CODE_COUNT_; ++i) codes.Set(i, Napi::String::New(env, ek_code_name(int(i))));
  exports.Set("codes", codes);
  return exports;
}

}  // namespace

NODE_API_MODULE(edgekey, Init)
