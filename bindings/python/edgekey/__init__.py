"""edgekey: validate API keys in-process against edgekeyd's shared table.

    import edgekey
    with edgekey.Validator("edgekey-in-mum") as v:   # may be shared by threads
        r = v.validate("Bearer ek_sk_live_...", permission="chat:write",
                       client_ip="203.0.113.7")
        if not r.ok:
            deny(r.status, r.code)                     # 401/403/503, "revoked_key"

Each call runs libedgekey's ek_validate (no system call, no lock), through
the compiled edgekey._speedups when the package was built with it (one C
validator per Validator, used under the GIL), else through cffi (a pool of
C validators, one per concurrent caller: cffi releases the GIL during the
call). Either way threads share one Validator.
"""
import os as _os
import struct as _struct
import sys as _sys

from ._ffi import ffi as _ffi, lib as _lib

__all__ = ["Validator", "Result", "Error", "ClosedError", "CODES"]

# ek_code wire names, by enum value.
CODES = tuple(_ffi.string(_lib.ek_code_name(i)).decode() for i in range(13))
_TYPES = (None, "secret", "publishable")
_ENVS = (None, "live", "test")

_O_KEY = _ffi.offsetof("ek_result", "key_id")
_O_WS = _ffi.offsetof("ek_result", "workspace")
_O_ROLE = _ffi.offsetof("ek_result", "role")
_O_TAIL = _ffi.offsetof("ek_result", "type")
assert _ffi.offsetof("ek_result", "expires_at") == _O_TAIL + 8
assert _ffi.offsetof("ek_result", "code") == 4 and _sys.byteorder == "little"  # validate reads status and code as one int64
_TAIL = _struct.Struct("=iiq")


def _load_speedups():
    """edgekey._speedups, or None for the cffi path: the file
    $EDGEKEY_PYTHON_EXTENSION names (a build tree's; "" = none), else the
    one installed beside this file, if the build made one."""
    path = _os.environ.get("EDGEKEY_PYTHON_EXTENSION")
    if path is None:
        try:
            from . import _speedups
        except ImportError:
            return None
        return _speedups
    if not path:
        return None
    import importlib.machinery
    import importlib.util
    name = __name__ + "._speedups"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))
    loader.exec_module(mod)
    return mod


_speedups = _load_speedups()


class Error(Exception):
    """libedgekey could not open the table: .code is the negative ek_err,
    the message ek_strerror's (what to do about it)."""

    def __init__(self, code, message=None):
        self.code = code
        if message is None:
            message = _ffi.string(_lib.ek_strerror(code)).decode()
        super().__init__(message)


class ClosedError(Error, ValueError):
    """The Validator was closed."""

    def __init__(self):
        super().__init__(-1, "edgekey: this Validator is closed")


def _field(raw, at, size):
    end = raw.find(b"\0", at, at + size)
    s = raw[at:end if end >= 0 else at + size]
    return s.decode("utf-8", "replace") if s else None


_NOKEY = None  # a Result's _raw when no key was found


def _as_dict(self):
    return {f: getattr(self, f) for f in
            ("status", "code", "key_id", "workspace", "role", "type", "env", "expires_at")}


def _repr(self):
    return "Result(%r)" % (self.as_dict(),)


class Result:
    """One answer. status: 200, 401, 403 or 503; code: "ok", "revoked_key", ...
    Key fields (key_id, workspace, role, type, env, expires_at) are None when
    no key was found; expires_at is unix seconds, None for a key that never
    expires."""

    # status, code, ok are set by the Validator; _raw is the ek_result's
    # bytes (None when no key was found): key fields decoded on access.
    __slots__ = ("status", "code", "ok", "_raw")

    def __init__(self, status, code, raw=None):
        self.status = status
        self.code = code
        self.ok = status == 200
        self._raw = raw

    @property
    def key_id(self):
        raw = self._raw
        return None if raw is None else _field(raw, _O_KEY, 48)

    @property
    def workspace(self):
        raw = self._raw
        return None if raw is None else _field(raw, _O_WS, 48)

    @property
    def role(self):
        raw = self._raw
        return None if raw is None else _field(raw, _O_ROLE, 32)

    @property
    def type(self):
        raw = self._raw
        if raw is None:
            return None
        t = _TAIL.unpack_from(raw, _O_TAIL)[0]
        return _TYPES[t] if 0 <= t < 3 else None

    @property
    def env(self):
        raw = self._raw
        if raw is None:
            return None
        e = _TAIL.unpack_from(raw, _O_TAIL)[1]
        return _ENVS[e] if 0 <= e < 3 else None

    @property
    def expires_at(self):
        raw = self._raw
        return None if raw is None else (_TAIL.unpack_from(raw, _O_TAIL)[2] or None)

    as_dict = _as_dict
    __repr__ = _repr


def _bytes(value, what):
    """value (str or bytes-like) as bytes without NUL; None stays None."""
    if value is None:
        return None
    if type(value) is str:
        b = value.encode()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
    else:
        raise TypeError("edgekey: %s must be a str, bytes or None, not %s" % (what, type(value).__name__))
    if b.find(b"\0") >= 0:
        raise ValueError("edgekey: %s contains a NUL character" % what)
    return b


_NULL = _ffi.NULL
_new = object.__new__
_validate = _lib.ek_validate
_AUTH, _PERM, _IP, _ORIGIN, _ENV = range(5)
_FIELDS = ("authorization", "permission", "client_ip", "origin", "env")
_WHAT = ("authorization", "permission", "client_ip", "origin", "env")


class _Slot:
    """A C validator with its request and result, used by one caller at a
    time (taken from the Validator's pool). Each request field points to a
    buffer the slot owns (grown on demand) or NULL; objs[i] is the Python
    value (str or bytes, immutable) the field holds now, so a field is
    written only when the caller passes another object, and the
    authorization's NUL only when its length changes."""

    __slots__ = ("handle", "req", "res", "mres", "ires", "qres", "bufs", "views", "caps", "objs", "alen", "av")

    def __init__(self, handle):
        self.handle = handle
        self.req = _ffi.new("ek_request *")  # zeroed: every field NULL
        self.res = _ffi.new("ek_result *")
        self.mres = memoryview(_ffi.buffer(self.res))
        self.ires = self.mres.cast("i")  # [0] status, [1] code
        self.qres = self.mres[0:8].cast("q")  # [0] status | code << 32 (little-endian, status >= 0)
        self.bufs = [None] * 5
        self.views = [None] * 5
        self.caps = [0] * 5
        self.objs = [None] * 5  # what each field holds: None = NULL
        self.alen = -1  # the authorization's length in its buffer (its NUL at alen); -1 when NULL
        self.grow(_AUTH, 1024)

    def grow(self, i, n):
        self.bufs[i] = _ffi.new("char[]", n)
        self.views[i] = memoryview(_ffi.buffer(self.bufs[i]))
        self.caps[i] = n
        setattr(self.req, _FIELDS[i], self.bufs[i])
        if i == _AUTH:
            self.av = self.views[i]
            self.alen = -1

    def put(self, i, value, b):
        """Field i = b (bytes without NUL, converted from value), or NULL
        for None."""
        if b is None:
            setattr(self.req, _FIELDS[i], _NULL)
            self.objs[i] = None
            if i == _AUTH:
                self.alen = -1
            return
        n = len(b)
        if n >= self.caps[i]:
            self.grow(i, max(n + 1, 2 * self.caps[i], 64))
        elif self.objs[i] is None:  # was NULL
            setattr(self.req, _FIELDS[i], self.bufs[i])
        view = self.views[i]
        view[0:n] = b
        view[n] = 0
        if i == _AUTH:
            self.alen = n
        # Only immutable values are compared by identity on the next call.
        self.objs[i] = value if type(value) is str or type(value) is bytes else b


class Validator:
    """Validates keys against the table `table` (edgekey.yaml's table.name,
    or its path under table.directory). Raises Error when it cannot be
    opened. Safe to share between threads; close() (or `with`) releases it,
    after which validate() raises ClosedError."""

    def __init__(self, table):
        if not isinstance(table, str):
            raise TypeError("edgekey: table must be a str, not %s" % type(table).__name__)
        if "\0" in table:
            raise ValueError("edgekey: table contains a NUL character")
        self._table = table.encode()
        self._closed = False
        self._pool = [self._open()]  # opened now: a missing table raises here

    def _open(self):
        out = _ffi.new("ek_validator **")
        rc = _lib.ek_open(self._table, out)
        if rc != 0:
            raise Error(rc)
        return _Slot(out[0])

    def validate(self, authorization, permission=None, client_ip=None, origin=None, env=None):
        """The answer for the Authorization header value ("Bearer <token>" or
        the bare token; None = no header: 401 missing_token). permission:
        what the operation needs (None or "" = nothing); client_ip: the
        caller's address (None = unknown, refused by keys with CIDRs);
        origin: the request's Origin (None = none); env: "live"/"test"
        (None = any). TypeError/ValueError for a non-string or an embedded NUL."""
        pool = self._pool
        try:
            slot = pool.pop()
        except IndexError:
            if self._closed:
                raise ClosedError() from None
            slot = self._open()
        try:
            # The common case inline: a str header as long as the slot's last
            # one (its NUL in place), the other fields the objects of its
            # last call. Anything else takes _general.
            objs = slot.objs
            if type(authorization) is not str or "\0" in authorization or permission is not objs[1] \
                    or client_ip is not objs[2] or origin is not objs[3] or env is not objs[4] or self._closed:
                return self._general(slot, authorization, permission, client_ip, origin, env)
            a = authorization.encode()
            n = len(a)
            if n != slot.alen:
                return self._general(slot, authorization, permission, client_ip, origin, env)
            slot.av[0:n] = a
            _validate(slot.handle, slot.req, slot.res)  # 0: every argument is non-NULL
            sc = slot.qres[0]  # status and code in one read
            r = _new(Result)
            r.status = status = sc & 0xFFFFFFFF
            r.code = CODES[sc >> 32]
            r.ok = status == 200
            # A key was found when key_id is not empty (always for a 200).
            r._raw = slot.mres.tobytes() if status == 200 or slot.mres[_O_KEY] else None
            return r
        finally:
            if slot.handle is not None:  # else closed: released by _general
                pool.append(slot)
                if self._closed:
                    self._drain()

    def _general(self, slot, authorization, permission, client_ip, origin, env):
        """validate with the slot taken, for any arguments: checks and
        writes what changed."""
        if self._closed:  # closed after we took it: nobody else frees it
            _lib.ek_close(slot.handle)
            slot.handle = None
            raise ClosedError()
        if type(authorization) is str and "\0" not in authorization:
            a = authorization.encode()
        else:
            a = _bytes(authorization, "authorization")
        objs = slot.objs
        if permission is not objs[1] or client_ip is not objs[2] or origin is not objs[3] or env is not objs[4]:
            self._put_rest(slot, permission, client_ip, origin, env)
        slot.put(_AUTH, a, a)
        _validate(slot.handle, slot.req, slot.res)
        ires = slot.ires
        status = ires[0]
        return Result(status, CODES[ires[1]], slot.mres.tobytes() if slot.mres[_O_KEY] else None)

    @staticmethod
    def _put_rest(slot, permission, client_ip, origin, env):
        """The fields after authorization, each converted and checked before
        any is written (a bad one raises with the slot unchanged)."""
        objs = slot.objs
        vals = (None, permission, client_ip, origin, env)
        conv = [None] * 5
        for i in (1, 2, 3, 4):
            if vals[i] is not objs[i]:
                conv[i] = _bytes(vals[i], _WHAT[i])
        for i in (1, 2, 3, 4):
            if vals[i] is not objs[i]:
                slot.put(i, vals[i], conv[i])

    def _drain(self):
        pool = self._pool
        while True:
            try:
                slot = pool.pop()
            except IndexError:
                return
            _lib.ek_close(slot.handle)
            slot.handle = None

    def close(self):
        """Releases the C validators; validate() then raises ClosedError.
        Callers inside validate() meanwhile finish, then free theirs."""
        self._closed = True
        self._drain()

    @property
    def closed(self):
        return self._closed

    def _open_validators(self):
        """C validators held now (tests)."""
        return len(self._pool)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self.close()


if _speedups is not None:
    Result = _speedups.Result  # noqa: F811 - made in C, its fields read from the ek_result it copied

    class Validator(_speedups.Core):  # noqa: F811
        """Validates keys against the table `table` (edgekey.yaml's table.name,
        or its path under table.directory). Raises Error when it cannot be
        opened. Safe to share between threads; close() (or `with`) releases it,
        after which validate() raises ClosedError.

        validate(authorization, permission=None, client_ip=None, origin=None,
        env=None) -> Result: the answer for the Authorization header value
        ("Bearer <token>" or the bare token; None = no header: 401
        missing_token). permission: what the operation needs (None or "" =
        nothing); client_ip: the caller's address (None = unknown, refused by
        keys with CIDRs); origin: the request's Origin (None = none); env:
        "live"/"test" (None = any). TypeError/ValueError for a non-string or an
        embedded NUL."""

        def __init__(self, table):
            if not isinstance(table, str):
                raise TypeError("edgekey: table must be a str, not %s" % type(table).__name__)
            if "\0" in table:
                raise ValueError("edgekey: table contains a NUL character")
            out = _ffi.new("ek_validator **")
            rc = _lib.ek_open(table.encode(), out)
            if rc != 0:
                raise Error(rc)
            self._attach(int(_ffi.cast("uintptr_t", out[0])))

        def _open_validators(self):
            """C validators held now (tests)."""
            return 0 if self.closed else 1

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    _speedups.setup(int(_ffi.cast("uintptr_t", _lib.ek_validate)), int(_ffi.cast("uintptr_t", _lib.ek_close)),
                    ClosedError, _bytes, CODES, _TYPES, _ENVS)


from .middleware import WSGIMiddleware, ASGIMiddleware  # noqa: E402

__all__ += ["WSGIMiddleware", "ASGIMiddleware"]
