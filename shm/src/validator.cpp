// validator.cpp -- the C API: ek_open, ek_validate and the validation rules
// of docs/design.md ("Validation"), in the order the table lists them.
#include "shm/src/token_format.hpp"
#include "shm/src/validator_state.hpp"

#include <edgekey/edgekey.h>
#include <time.h>

#include <cstring>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

using namespace edgekey::shm;

namespace {

constexpr const char *kCodeNames[EK_CODE_COUNT_] = {
    "ok",
    "missing_token",
    "malformed_token",
    "unknown_key",
    "revoked_key",
    "expired_key",
    "insufficient_permission",
    "origin_not_allowed",
    "ip_not_allowed",
    "wrong_env",
    "wrong_region",
    "keyset_stale",
    "keyset_unavailable",
};

constexpr int kCodeStatus[EK_CODE_COUNT_] = {200, 401, 401, 401, 401, 401, 403,
                                             403, 403, 403, 403, 503, 503};

inline int answer(ek_result *out, int code) {
  out->code = code;
  out->status = kCodeStatus[code];
  return 0;
}

// An answer before a key was found: no key fields. (The hit path writes
// every key field, so it does not clear them first.)
inline int unkeyed(ek_result *out, int code) {
  out->key_id[0] = out->workspace[0] = out->role[0] = '\0';
  out->type = out->env = 0;
  out->expires_at = 0;
  return answer(out, code);
}

inline int64_t coarse_now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

// dst = s (truncated to cap - 1) then NULs to the end.
inline void copy_field(char *dst, size_t cap, std::string_view s) {
  size_t n = s.size() < cap ? s.size() : cap - 1;
  std::memset(dst, 0, cap);
  if (n) std::memcpy(dst, s.data(), n);  // an empty view may have a null data()
}

// A slot image with room behind it: copy_padded() may read 48 bytes from
// any inline id's start (ids end by the image's end; bytes past an id are
// masked off).
struct PaddedSlotImage {
  SlotImage s;
  char tail[48] = {};
};
static_assert(sizeof(PaddedSlotImage) == sizeof(SlotImage) + 48);

// dst = src[0..n) then NULs to the end, n < N, without a branch on n (id
// lengths vary from key to key). Reads src[0..N).
template <size_t N>
inline void copy_padded(char (&dst)[N], const char *src, size_t n) {
  static_assert(N % 16 == 0 && N < 128);
#if defined(__SSE2__)
  const __m128i lim = _mm_set1_epi8(char(n));
  const __m128i at = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (size_t i = 0; i < N; i += 16) {
    const __m128i keep = _mm_cmplt_epi8(_mm_add_epi8(at, _mm_set1_epi8(char(i))), lim);
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + i), _mm_and_si128(v, keep));
  }
#else
  for (size_t i = 0; i < N; ++i) dst[i] = i < n ? src[i] : '\0';
#endif
}

inline int parse_env(const char *e) {
  if (std::strcmp(e, "live") == 0) return EK_ENV_LIVE;
  if (std::strcmp(e, "test") == 0) return EK_ENV_TEST;
  return -1;  // matches no key: wrong_env
}

}  // namespace

extern "C" {

int ek_open(const char *table_name, ek_validator **out) {
  if (!out) return EK_ERR_INVALID_ARG;
  *out = nullptr;
  if (!table_name || !*table_name) return EK_ERR_INVALID_ARG;
  auto *v = new (std::nothrow) ek_validator;
  if (!v) return EK_ERR_NOMEM;
  int rc = v->open(table_name);
  if (rc != 0) {
    delete v;
    return rc;
  }
  *out = v;
  return 0;
}

void ek_close(ek_validator *v) { delete v; }

namespace {

// The validation rules; ek_validate counts the answer this gives.
inline int validate_rules(ek_validator *v, const ek_request *req, ek_result *out) {
  const char *auth = req->authorization;
  if (!auth || !*auth) return unkeyed(out, EK_CODE_MISSING_TOKEN);
  if (v->refresh() != 0) return unkeyed(out, EK_CODE_KEYSET_UNAVAILABLE);

  ParsedToken tok = parse_authorization(auth, v->prefix(), v->legacy_tokens());
  if (tok.kind == TokenKind::Missing) return unkeyed(out, EK_CODE_MISSING_TOKEN);
  if (tok.kind == TokenKind::Malformed) return unkeyed(out, EK_CODE_MALFORMED_TOKEN);

  int64_t now = 0;
  const uint64_t stale = v->control()->staleness.load(std::memory_order_relaxed);
  if ((stale >> 32) == uint64_t(StalenessPolicy::FailClosed) && uint32_t(stale) != 0) {
    now = coarse_now();
    // last_contact is any int64 the segment holds: compare it with a bound
    // computed from the clock (now - max cannot overflow), never subtract it.
    const int64_t contact = v->control()->last_contact.load(std::memory_order_relaxed);
    if (contact < now - int64_t(uint32_t(stale))) return unkeyed(out, EK_CODE_KEYSET_STALE);
  }

  uint8_t hash[32];
  v->hasher().hash(tok.token, hash);
  const uint64_t tag = usage_tag(hash);
  v->prefetch_usage(tag);
  PaddedSlotImage img;
  SlotImage &s = img.s;
  const DataView &d = v->view();
  switch (find_slot(d, hash, s)) {
    case Lookup::Miss: return unkeyed(out, EK_CODE_UNKNOWN_KEY);
    case Lookup::Busy: return unkeyed(out, EK_CODE_KEYSET_UNAVAILABLE);
    case Lookup::Hit: break;
  }
  v->hit_tag = tag;

  std::string_view key_id, workspace;
  if (!slot_ids(d, s, key_id, workspace)) return unkeyed(out, EK_CODE_KEYSET_UNAVAILABLE);
  if (!(s.flags & kFlagIdsInArena)) {  // views into img: room behind them for whole lanes
    copy_padded(out->key_id, key_id.data(), key_id.size() < 48 ? key_id.size() : 47);
    copy_padded(out->workspace, workspace.data(), workspace.size() < 48 ? workspace.size() : 47);
  } else {
    copy_field(out->key_id, sizeof out->key_id, key_id);
    copy_field(out->workspace, sizeof out->workspace, workspace);
  }
  static_assert(sizeof out->role == kMaxNameLen + 1);
  std::memcpy(out->role, v->role_field(s.role), sizeof out->role);
  out->type = s.type;
  out->env = s.env;
  out->expires_at = s.expires_at;

  if (s.status == uint8_t(KeyStatus::Revoked)) return answer(out, EK_CODE_REVOKED_KEY);
  if (s.expires_at != 0) {
    if (now == 0) now = coarse_now();
    if (now >= s.expires_at) return answer(out, EK_CODE_EXPIRED_KEY);
  }
  if (s.flags & kFlagWrongRegion) return answer(out, EK_CODE_WRONG_REGION);
  if (req->env && *req->env && parse_env(req->env) != s.env) return answer(out, EK_CODE_WRONG_ENV);
  if ((s.flags & kFlagOrigins) || s.type == EK_TYPE_PUBLISHABLE) {
    if (!req->origin || !*req->origin || !(s.flags & kFlagOrigins))
      return answer(out, EK_CODE_ORIGIN_NOT_ALLOWED);
    int ok = origin_allowed(d, s, req->origin);
    if (ok < 0) return answer(out, EK_CODE_KEYSET_UNAVAILABLE);
    if (ok == 0) return answer(out, EK_CODE_ORIGIN_NOT_ALLOWED);
  }
  if (s.flags & kFlagCidrs) {
    IpAddr ip;
    if (!req->client_ip || !parse_ip(req->client_ip, ip)) return answer(out, EK_CODE_IP_NOT_ALLOWED);
    int ok = ip_allowed(d, s, ip);
    if (ok < 0) return answer(out, EK_CODE_KEYSET_UNAVAILABLE);
    if (ok == 0) return answer(out, EK_CODE_IP_NOT_ALLOWED);
  }
  if (req->permission && *req->permission) {
    int bit = v->permission_bit(req->permission);
    if (bit < 0 || !((s.perms >> bit) & 1)) return answer(out, EK_CODE_INSUFFICIENT_PERMISSION);
  }
  return answer(out, EK_CODE_OK);
}

}  // namespace

int ek_validate(ek_validator *v, const ek_request *req, ek_result *out) {
  if (!v || !req || !out) return EK_ERR_INVALID_ARG;
  v->hit_tag = 0;
  validate_rules(v, req, out);
  v->count(out->code);
  return 0;
}

int ek_set_counting(ek_validator *v, int on) {
  if (!v) return EK_ERR_INVALID_ARG;
  return v->set_counting(on != 0) ? 1 : 0;
}

int ek_code_status(int code) {
  if (code < 0 || code >= EK_CODE_COUNT_) return 0;
  return kCodeStatus[code];
}

const char *ek_code_name(int code) {
  if (code < 0 || code >= EK_CODE_COUNT_) return "unknown_code";
  return kCodeNames[code];
}

const char *ek_strerror(int err) {
  switch (err) {
    case EK_OK: return "ok";
    case EK_ERR_INVALID_ARG: return "edgekey: invalid argument (a NULL pointer or an empty table name)";
    case EK_ERR_NO_TABLE:
      return "edgekey: no such key table in /dev/shm: check table.name in edgekey.yaml and that edgekeyd is running";
    case EK_ERR_ACCESS:
      return "edgekey: permission denied on the key table: add this user to the table's readers group (table.readers_group)";
    case EK_ERR_BAD_MAGIC: return "edgekey: the shared-memory segment is not an edgekey table: check the table name";
    case EK_ERR_VERSION:
      return "edgekey: the table's layout version is unknown to this libedgekey: upgrade the library to edgekeyd's version";
    case EK_ERR_CORRUPT:
      return "edgekey: the key table is truncated or inconsistent: restart edgekeyd to rebuild it";
    case EK_ERR_PEPPER:
      return "edgekey: cannot read the HMAC pepper file named by the table, or it differs from edgekeyd's: check its path and group";
    case EK_ERR_NOMEM: return "edgekey: out of memory while mapping the key table";
    case EK_ERR_SYSTEM: return "edgekey: system error while mapping the key table (see errno)";
    default: return "edgekey: unknown error code";
  }
}

const char *ek_type_name(int type) {
  return type == EK_TYPE_SECRET ? "secret" : type == EK_TYPE_PUBLISHABLE ? "publishable" : "";
}

const char *ek_env_name(int env) {
  return env == EK_ENV_LIVE ? "live" : env == EK_ENV_TEST ? "test" : "";
}

}  // extern "C"
