/*
 * edgekey.h -- validate API keys against the host's shared key table.
 *
 * libedgekey maps the table that edgekeyd keeps in POSIX shared memory and
 * answers "is this key valid, and may it do this?" without a system call,
 * a lock or a network hop.
 *
 *   ek_validator *v;
 *   int rc = ek_open("edgekey-in-mum", &v);          // once per thread
 *   if (rc) { fprintf(stderr, "%s\n", ek_strerror(rc)); exit(1); }
 *   ek_request req = { .authorization = hdr, .permission = "chat:write",
 *                      .client_ip = "203.0.113.7" };
 *   ek_result res;
 *   ek_validate(v, &req, &res);                      // res.status: 200/401/403/503
 *   if (res.status != 200) deny(res.status, ek_code_name(res.code));
 *
 * Caveats
 * - A validator is for one thread at a time. Open one per thread; opening is
 *   cheap (two mappings) and validating never allocates.
 * - The table is mapped read-only. The caller needs read access to
 *   /dev/shm/<table>* (or <table.directory>/<table>*), which edgekeyd creates with mode 0640 and the group
 *   named by `table.readers_group` in edgekey.yaml: add the worker's user to
 *   that group. When the deployment hashes keys with HMAC, the worker also
 *   needs read access to the pepper file named in the config.
 * - fork(): a child may keep using a validator it inherited (the mappings are
 *   shared read-only), but parent and child must not share one concurrently;
 *   opening a fresh one in the child is simplest.
 * - The table outlives edgekeyd: when the daemon stops or restarts, readers
 *   keep answering from the last published table, subject to the configured
 *   staleness policy.
 * - When edgekeyd grows or rebuilds the table it publishes a new generation;
 *   a validator switches to it on its next call, no action needed.
 * - Every answer is counted (by code; for a found key, its use and the time
 *   of its last use) in a usage segment of the validator's own, which it
 *   creates in /dev/shm/<table name>.usage/ and edgekeyd reads (/metrics,
 *   the revoked-key alarm, a key's last use). Counting takes no lock, no
 *   system call and writes no cache line another thread writes. A validator
 *   that cannot create its segment (no such directory: an older edgekeyd;
 *   no permission; /dev/shm full) validates without counting.
 * - A process whose validators count runs one thread of the library's,
 *   "edgekey-usage", started by ek_open or ek_set_counting (never by
 *   ek_validate): it makes each validator's next usage segment ahead of
 *   time and unmaps retired ones, so ek_validate makes no system call. It
 *   blocks every signal, wakes every 100 ms while a validator is open, and
 *   keeps the library loaded (a dlclose does not unmap it). A child of
 *   fork() gets its own thread when it opens a validator.
 * - Trust: the key table is read-only to readers, but the usage directory
 *   is writable by the readers' group. A process in table.readers_group can
 *   therefore write usage counts (it could already read every key's hash):
 *   never put an untrusted process in that group.
 */
#ifndef EDGEKEY_EDGEKEY_H
#define EDGEKEY_EDGEKEY_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EK_API __attribute__((visibility("default")))
#else
#define EK_API
#endif

/* Errors of the API itself (not validation outcomes): 0 or negative. */
enum ek_err {
  EK_OK = 0,
  EK_ERR_INVALID_ARG = -1,  /* NULL pointer or empty table name */
  EK_ERR_NO_TABLE = -2,     /* no such shared-memory table: is edgekeyd running? */
  EK_ERR_ACCESS = -3,       /* permission denied: join the table's readers group */
  EK_ERR_BAD_MAGIC = -4,    /* the segment is not an edgekey table */
  EK_ERR_VERSION = -5,      /* table layout version unknown to this library */
  EK_ERR_CORRUPT = -6,      /* truncated or inconsistent segment */
  EK_ERR_PEPPER = -7,       /* HMAC pepper file unreadable or not the daemon's */
  EK_ERR_NOMEM = -8,
  EK_ERR_SYSTEM = -9        /* other system error; see errno */
};

/* Validation outcomes; ek_code_name() gives the wire name ("revoked_key"). */
enum ek_code {
  EK_CODE_OK = 0,
  EK_CODE_MISSING_TOKEN,           /* 401 */
  EK_CODE_MALFORMED_TOKEN,         /* 401 */
  EK_CODE_UNKNOWN_KEY,             /* 401 */
  EK_CODE_REVOKED_KEY,             /* 401 */
  EK_CODE_EXPIRED_KEY,             /* 401 */
  EK_CODE_INSUFFICIENT_PERMISSION, /* 403 */
  EK_CODE_ORIGIN_NOT_ALLOWED,      /* 403 */
  EK_CODE_IP_NOT_ALLOWED,          /* 403 */
  EK_CODE_WRONG_ENV,               /* 403 */
  EK_CODE_WRONG_REGION,            /* 403 */
  EK_CODE_KEYSET_STALE,            /* 503: older than the staleness bound, policy fail_closed */
  EK_CODE_KEYSET_UNAVAILABLE,      /* 503: never loaded, or the record is mid-write */
  EK_CODE_COUNT_
};

enum ek_key_type { EK_TYPE_NONE = 0, EK_TYPE_SECRET = 1, EK_TYPE_PUBLISHABLE = 2 };
enum ek_env { EK_ENV_NONE = 0, EK_ENV_LIVE = 1, EK_ENV_TEST = 2 };

typedef struct ek_validator ek_validator; /* opaque; one per thread */

typedef struct ek_request {
  const char *authorization; /* raw header value ("Bearer ...") or the bare token */
  const char *permission;    /* NULL or "" = none needed */
  const char *client_ip;     /* NULL = unknown (fails keys with CIDR allow-lists) */
  const char *origin;        /* NULL = none (fails publishable keys) */
  const char *env;           /* NULL = any; "live" or "test" */
} ek_request;

/* Key fields are filled only when a key was found (codes from REVOKED_KEY on,
 * and OK); otherwise they are empty strings and zeros. */
typedef struct ek_result {
  int status;                /* 200, 401, 403, 503 */
  int code;                  /* enum ek_code */
  char key_id[48], workspace[48], role[32];
  int type, env;             /* enum ek_key_type, enum ek_env */
  long long expires_at;      /* unix seconds, 0 = never */
} ek_result;

/* Maps the table `table_name` read-only: the `table.name` of edgekey.yaml,
 * or, when edgekey.yaml sets `table.directory` (hugetlbfs), the path
 * "<table.directory>/<table.name>". Returns 0 and sets *out, or a negative
 * ek_err. */
EK_API int ek_open(const char *table_name, ek_validator **out);
EK_API void ek_close(ek_validator *v);

/* Fills *out. Returns 0 whenever *out holds an answer (including 401/403/503),
 * or EK_ERR_INVALID_ARG for NULL arguments. Never blocks, never allocates. */
EK_API int ek_validate(ek_validator *v, const ek_request *req, ek_result *out);

/* Usage counting for this validator: on (the default, when the usage
 * directory lets it) or off (e.g. a process that counts its answers itself,
 * or a benchmark). Returns 1 when the validator counts after the call, 0 when
 * not, or EK_ERR_INVALID_ARG. Not for the hot path (off-to-on creates a
 * segment). */
EK_API int ek_set_counting(ek_validator *v, int on);

/* "ok", "revoked_key", ...; "unknown_code" outside the enum. */
EK_API const char *ek_code_name(int code);
/* The HTTP status of a code (200, 401, 403, 503); 0 outside the enum. */
EK_API int ek_code_status(int code);
/* One line naming the error and what to do about it. */
EK_API const char *ek_strerror(int err);
/* "secret"/"publishable", "live"/"test"; "" for NONE. */
EK_API const char *ek_type_name(int type);
EK_API const char *ek_env_name(int env);

/* An answer as HTTP callers send it (edgekeyd's /v1/validate, the nginx
 * module): one rendering, so no two of them drift apart. */

/* A buffer of this size always holds ek_result_json's output. */
#define EK_RESULT_JSON_MAX 1024

/* Writes the JSON body of an answer, with a final newline, NUL-terminated:
 *   {"status":403,"code":"insufficient_permission","key_id":"key_2hT9cQ4mZ8",
 *    "workspace":"ws_solar","type":"secret","env":"live","role":"developer",
 *    "expires_at":null}
 * (the key fields only when a key was found; expires_at as RFC 3339 UTC or
 * null). Returns the length of the whole text, as snprintf does: a result
 * >= len means buf was too small and holds a truncated text. Never
 * allocates. */
EK_API size_t ek_result_json(const ek_result *r, char *buf, size_t len);

/* The WWW-Authenticate value for an answer (RFC 6750), or NULL when none is
 * sent: "Bearer" for missing_token, "Bearer error=\"invalid_token\"" for the
 * other 401s, "Bearer error=\"insufficient_scope\"" for
 * insufficient_permission. (A 503 is sent with "Retry-After: 1".) */
EK_API const char *ek_result_challenge(const ek_result *r);

#ifdef __cplusplus
}
#endif
#endif /* EDGEKEY_EDGEKEY_H */
