// validator.hpp -- C++ face of libedgekey: RAII over the C handle in edgekey.h.
//
//   auto v = edgekey::Validator::open("edgekey-in-mum");   // once per thread
//   if (!v) { std::cerr << edgekey::Validator::error_text(v.error()) << '\n'; ... }
//   edgekey::Result r = v.validate(header, {.permission = "chat:write"});
//   if (!r.ok()) return reply(r.status, r.code_name());
//
// The caveats of edgekey.h apply (one validator per thread, read-only mapping,
// the readers' group). Nothing here throws or allocates on the validate path.
#ifndef EDGEKEY_VALIDATOR_HPP
#define EDGEKEY_VALIDATOR_HPP

#include <edgekey/edgekey.h>

#include <string_view>
#include <utility>

namespace edgekey {

// What the operation needs and where the request came from. Pointers must be
// NUL-terminated strings or null (null = not given).
struct Request {
  const char *permission = nullptr;
  const char *client_ip = nullptr;
  const char *origin = nullptr;
  const char *env = nullptr;
};

struct Result : ek_result {
  bool ok() const { return status == 200; }
  const char *code_name() const { return ek_code_name(code); }
  const char *type_name() const { return ek_type_name(type); }
  const char *env_name() const { return ek_env_name(env); }
};

class Validator {
 public:
  Validator() = default;
  static Validator open(const char *table_name) {
    Validator v;
    v.err_ = ek_open(table_name, &v.v_);
    return v;
  }
  Validator(Validator &&o) noexcept : v_(std::exchange(o.v_, nullptr)), err_(o.err_) {}
  Validator &operator=(Validator &&o) noexcept {
    if (this != &o) {
      ek_close(v_);
      v_ = std::exchange(o.v_, nullptr);
      err_ = o.err_;
    }
    return *this;
  }
  Validator(const Validator &) = delete;
  Validator &operator=(const Validator &) = delete;
  ~Validator() { ek_close(v_); }

  explicit operator bool() const { return v_ != nullptr; }
  int error() const { return err_; }  // ek_err of open(), 0 when open
  static const char *error_text(int err) { return ek_strerror(err); }

  // `authorization` is the raw header value or the bare token; it need not be
  // NUL-terminated (it is copied into a bounded stack buffer).
  Result validate(std::string_view authorization, const Request &req = {}) {
    char buf[1024];
    Result r;
    ek_request c{};
    if (authorization.size() >= sizeof buf) {
      c.authorization = "\x01";  // too long for any token: malformed
    } else {
      for (size_t i = 0; i < authorization.size(); ++i) buf[i] = authorization[i];
      buf[authorization.size()] = '\0';
      c.authorization = buf;
    }
    c.permission = req.permission;
    c.client_ip = req.client_ip;
    c.origin = req.origin;
    c.env = req.env;
    if (ek_validate(v_, &c, &r) != 0) {
      r = Result{};
      r.status = 503;
      r.code = EK_CODE_KEYSET_UNAVAILABLE;
    }
    return r;
  }

  ek_validator *handle() const { return v_; }

 private:
  ek_validator *v_ = nullptr;
  int err_ = EK_ERR_INVALID_ARG;
};

}  // namespace edgekey

#endif  // EDGEKEY_VALIDATOR_HPP
