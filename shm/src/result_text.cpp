// result_text.cpp -- the one rendering of a validation answer for HTTP:
// the JSON body and the WWW-Authenticate challenge that edgekeyd's
// /v1/validate and the nginx module both send (edgekey.h).
#include <edgekey/edgekey.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

// Appends to buf[0..cap) at *at, counting what would not fit (snprintf-like).
struct Out {
  char *buf;
  size_t cap, at = 0;
  void put(char c) {
    if (at + 1 < cap) buf[at] = c;
    ++at;
  }
  void put(const char *s) {
    while (*s) put(*s++);
  }
  // "text", escaping ", \ and control characters.
  void quoted(const char *s) {
    static constexpr char kHex[] = "0123456789abcdef";
    put('"');
    for (; *s; ++s) {
      const auto u = static_cast<unsigned char>(*s);
      if (*s == '"' || *s == '\\') {
        put('\\');
        put(*s);
      } else if (u < 0x20) {
        put("\\u00");
        put(kHex[u >> 4]);
        put(kHex[u & 15]);
      } else {
        put(*s);
      }
    }
    put('"');
  }
  // "2026-11-22T10:00:00Z" in UTC (clamped to 0001..9999 as key records
  // are), or null for 0 (never).
  void time(long long t) {
    if (t == 0) return put("null");
    if (t < 0) t = 0;
    if (t > 253402300799LL) t = 253402300799LL;  // 9999-12-31T23:59:59Z
    const time_t tt = time_t(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char s[80];  // room for any int fields: -Wformat-truncation
    snprintf(s, sizeof s, "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    put(s);
  }
};

}  // namespace

size_t ek_result_json(const ek_result *r, char *buf, size_t len) {
  Out o{buf, len};
  if (r) {
    char status[16];
    snprintf(status, sizeof status, "%d", r->status);
    o.put("{\"status\":");
    o.put(status);
    o.put(",\"code\":");
    o.quoted(ek_code_name(r->code));
    if (r->key_id[0] != '\0') {  // key fields only where a key was found
      o.put(",\"key_id\":");
      o.quoted(r->key_id);
      o.put(",\"workspace\":");
      o.quoted(r->workspace);
      o.put(",\"type\":");
      o.quoted(ek_type_name(r->type));
      o.put(",\"env\":");
      o.quoted(ek_env_name(r->env));
      o.put(",\"role\":");
      o.quoted(r->role);
      o.put(",\"expires_at\":");
      o.time(r->expires_at);
    }
    o.put("}\n");
  }
  if (len > 0) buf[o.at < len ? o.at : len - 1] = '\0';
  return o.at;
}

const char *ek_result_challenge(const ek_result *r) {
  if (!r) return nullptr;
  if (r->status == 401) return r->code == EK_CODE_MISSING_TOKEN ? "Bearer" : "Bearer error=\"invalid_token\"";
  if (r->code == EK_CODE_INSUFFICIENT_PERMISSION) return "Bearer error=\"insufficient_scope\"";
  return nullptr;
}
