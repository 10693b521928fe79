"""The C API of libedgekey (edgekey/edgekey.h) through cffi's ABI mode:
libedgekey is opened with dlopen, so installing needs no compiler.

The library is the first of: $EDGEKEY_LIBRARY (a path); the one pkg-config
named when the package was built (_libpath.py); libedgekey.so.0 from the
dynamic loader's path."""
import os

try:
    import cffi
except ImportError as e:  # pragma: no cover - depends on the host
    raise ImportError("edgekey needs cffi: apt-get install python3-cffi, or pip install cffi") from e

# Declarations of edgekey.h, as the header states them (the layout must match).
CDEF = """
typedef struct ek_validator ek_validator;
typedef struct ek_request {
  const char *authorization;
  const char *permission;
  const char *client_ip;
  const char *origin;
  const char *env;
} ek_request;
typedef struct ek_result {
  int status;
  int code;
  char key_id[48], workspace[48], role[32];
  int type, env;
  long long expires_at;
} ek_result;
int ek_open(const char *table_name, ek_validator **out);
void ek_close(ek_validator *v);
int ek_validate(ek_validator *v, const ek_request *req, ek_result *out);
const char *ek_code_name(int code);
int ek_code_status(int code);
const char *ek_strerror(int err);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)


def _candidates():
    env = os.environ.get("EDGEKEY_LIBRARY")
    if env:
        return [env]
    out = []
    try:
        from ._libpath import LIBRARY  # written at build time from pkg-config
        if LIBRARY:
            out.append(LIBRARY)
    except ImportError:
        pass
    out.append("libedgekey.so.0")
    return out


def _load():
    errors = []
    for name in _candidates():
        try:
            return ffi.dlopen(name)
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    raise ImportError("edgekey: cannot load libedgekey (" + "; ".join(errors) +
                      "): install libedgekey (cmake --install) or set EDGEKEY_LIBRARY to its path")


lib = _load()
