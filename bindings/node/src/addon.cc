// edgekey.node -- libedgekey's C API (edgekey/edgekey.h) for Node.js, with
// node-addon-api. index.js wraps it; this file stays small and fast:
//   new Native(table)          ek_open; throws an Error whose .code is the ek_err
//   native.validate(auth, permission, clientIp, origin, env)
//                              ek_validate; each argument a string or
//                              undefined/null (index.js checks types and
//                              NULs). Writes status, code, type, env into
//                              native.out (Int32Array) and expires_at into
//                              native.out64 (Float64Array); returns
//                              "key_id\0workspace\0role" or undefined when
//                              no key was found.
//   native.close()             ek_close; validate then throws
// Context-aware: each worker thread loads its own instance and opens its
// own validators (a validator belongs to the thread that opened it).
#include <edgekey/edgekey.h>
#include <napi.h>

#include <cstring>
#include <string>

namespace {

class Native : public Napi::ObjectWrap<Native> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Native",
                       {InstanceMethod<&Native::Validate>("validate"), InstanceMethod<&Native::Close>("close")});
  }

  explicit Native(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Native>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "edgekey.open: the table name must be a string").ThrowAsJavaScriptException();
      return;
    }
    const std::string table = info[0].As<Napi::String>().Utf8Value();
    const int rc = table.find('\0') == std::string::npos ? ek_open(table.c_str(), &v_) : EK_ERR_INVALID_ARG;
    if (rc != 0) {
      Napi::Error e = Napi::Error::New(env, ek_strerror(rc));
      e.Set("code", Napi::Number::New(env, rc));
      e.ThrowAsJavaScriptException();
      return;
    }
    // status, code, type, env as int32; expires_at as a double at byte 16.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, 24);
    out_ = static_cast<int32_t *>(ab.Data());
    out64_ = reinterpret_cast<double *>(static_cast<char *>(ab.Data()) + 16);
    info.This().As<Napi::Object>().Set("out", Napi::Int32Array::New(env, 4, ab, 0));
    info.This().As<Napi::Object>().Set("out64", Napi::Float64Array::New(env, 1, ab, 16));
  }

  ~Native() override {
    if (v_) ek_close(v_);
  }

 private:
  // The value as a NUL-terminated UTF-8 string in buf_[i]; NULL for
  // undefined/null (and anything not a string: index.js refuses those).
  const char *Arg(napi_env env, napi_value v, int i) {
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return nullptr;
    std::string &b = buf_[i];
    size_t n = 0;
    napi_get_value_string_utf8(env, v, b.data(), b.size(), &n);
    if (n + 1 >= b.size()) {  // perhaps truncated: measure, grow, copy again
      napi_get_value_string_utf8(env, v, nullptr, 0, &n);
      if (n + 1 > b.size()) {
        b.resize(n + 1);
        napi_get_value_string_utf8(env, v, b.data(), b.size(), &n);
      }
    }
    return b.data();
  }

  Napi::Value Validate(const Napi::CallbackInfo &info) {
    napi_env env = info.Env();
    if (!v_) {
      Napi::Error::New(env, "edgekey: validate() on a closed validator").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    ek_request q;
    q.authorization = info.Length() > 0 ? Arg(env, info[0], 0) : nullptr;
    q.permission = info.Length() > 1 ? Arg(env, info[1], 1) : nullptr;
    q.client_ip = info.Length() > 2 ? Arg(env, info[2], 2) : nullptr;
    q.origin = info.Length() > 3 ? Arg(env, info[3], 3) : nullptr;
    q.env = info.Length() > 4 ? Arg(env, info[4], 4) : nullptr;
    ek_result r;
    ek_validate(v_, &q, &r);
    out_[0] = r.status;
    out_[1] = r.code;
    out_[2] = r.type;
    out_[3] = r.env;
    *out64_ = double(r.expires_at);
    if (!r.key_id[0]) return info.Env().Undefined();
    char ids[sizeof r.key_id + sizeof r.workspace + sizeof r.role];
    const size_t a = strnlen(r.key_id, sizeof r.key_id), b = strnlen(r.workspace, sizeof r.workspace),
                 c = strnlen(r.role, sizeof r.role);
    std::memcpy(ids, r.key_id, a);
    ids[a] = '\0';
    std::memcpy(ids + a + 1, r.workspace, b);
    ids[a + 1 + b] = '\0';
    std::memcpy(ids + a + 2 + b, r.role, c);
    napi_value s;
    napi_create_string_utf8(env, ids, a + b + c + 2, &s);
    return Napi::Value(env, s);
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    if (v_) ek_close(v_);
    v_ = nullptr;
    return info.Env().Undefined();
  }

  ek_validator *v_ = nullptr;
  int32_t *out_ = nullptr;
  double *out64_ = nullptr;
  std::string buf_[5] = {std::string(512, '\0'), std::string(64, '\0'), std::string(64, '\0'),
                         std::string(256, '\0'), std::string(16, '\0')};
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Native", Native::Define(env));
  Napi::Array codes = Napi::Array::New(env, EK_CODE_COUNT_);
  for (uint32_t i = 0; i < EK_CODE_COUNT_; ++i) codes.Set(i, Napi::String::New(env, ek_code_name(int(i))));
  exports.Set("codes", codes);
  return exports;
}

}  // namespace

NODE_API_MODULE(edgekey, Init)
