"""edgekey: validate API keys in-process against edgekeyd's shared table.

    import edgekey
    with edgekey.Validator("edgekey-in-mum") as v:   # may be shared by threads
        r = v.validate("Bearer ek_sk_live_...", permission="chat:write",
                       client_ip="203.0.113.7")
        if not r.ok:
            deny(r.status, r.code)                     # 401/403/503, "revoked_key"

Each call runs libedgekey's ek_validate (no system call, no lock). A
Validator keeps a pool of C validators, one per concurrent caller (the C
API's are for one thread at a time), so threads share one Validator.
"""
import struct as _struct

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
_TAIL = _struct.Struct("=iiq")


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


class Result:
    """One answer. status: 200, 401, 403 or 503; code: "ok", "revoked_key", ...
    Key fields (key_id, workspace, role, type, env, expires_at) are None when
    no key was found; expires_at is unix seconds, None for a key that never
    expires."""

    __slots__ = ("status", "code", "_raw")

    def __init__(self, status, code, raw):
        self.status = status
        self.code = code
        self._raw = raw  # the ek_result bytes; key fields decoded on access

    @property
    def ok(self):
        return self.status == 200

    @property
    def key_id(self):
        return _field(self._raw, _O_KEY, 48)

    @property
    def workspace(self):
        return _field(self._raw, _O_WS, 48)

    @property
    def role(self):
        return _field(self._raw, _O_ROLE, 32)

    @property
    def type(self):
        t = _TAIL.unpack_from(self._raw, _O_TAIL)[0]
        return _TYPES[t] if 0 <= t < 3 else None

    @property
    def env(self):
        e = _TAIL.unpack_from(self._raw, _O_TAIL)[1]
        return _ENVS[e] if 0 <= e < 3 else None

    @property
    def expires_at(self):
        return _TAIL.unpack_from(self._raw, _O_TAIL)[2] or None

    def as_dict(self):
        return {f: getattr(self, f) for f in
                ("status", "code", "key_id", "workspace", "role", "type", "env", "expires_at")}

    def __repr__(self):
        return "Result(%r)" % (self.as_dict(),)


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
    if b"\0" in b:
        raise ValueError("edgekey: %s contains a NUL character" % what)
    return b


def _cstr(value, what):
    """A NUL-terminated C string of value, or NULL for None; the cdata owns
    its bytes."""
    b = _bytes(value, what)
    return _ffi.NULL if b is None else _ffi.new("char[]", b)


_NULL = _ffi.NULL


class _Slot:
    """A C validator with its request and result, used by one caller at a
    time. The request's strings are copied into buffers the slot owns
    (authorization, client_ip, origin; grown on demand), so a call creates
    no cdata; permission and env point to the Validator's cached strings.
    Fields are written only when they change."""

    __slots__ = ("handle", "req", "res", "buf", "bufs", "views", "caps", "set_", "perm", "env")
    FIELDS = ("authorization", "client_ip", "origin")

    def __init__(self, handle):
        self.handle = handle
        self.req = _ffi.new("ek_request *")
        self.res = _ffi.new("ek_result *")
        self.buf = _ffi.buffer(self.res)
        self.bufs = [_ffi.new("char[]", n) for n in (1024, 64, 512)]
        self.views = [_ffi.buffer(b) for b in self.bufs]
        self.caps = [len(v) for v in self.views]
        self.set_ = [False, False, False]  # does the field point to its buffer (else NULL)?
        self.perm = self.env = _NULL

    def put(self, i, b):
        """Field i (FIELDS) = b (bytes without NUL) or NULL for None."""
        if b is None:
            if self.set_[i]:
                setattr(self.req, self.FIELDS[i], _NULL)
                self.set_[i] = False
            return
        n = len(b)
        if n >= self.caps[i]:
            self.bufs[i] = _ffi.new("char[]", n + 1)
            self.views[i] = _ffi.buffer(self.bufs[i])
            self.caps[i] = n + 1
            self.set_[i] = False
        self.views[i][0:n + 1] = b + b"\0"
        if not self.set_[i]:
            setattr(self.req, self.FIELDS[i], self.bufs[i])
            self.set_[i] = True


class Validator:
    """Validates keys against the table `table` (edgekey.yaml's table.name,
    or its path under table.directory). Raises Error when it cannot be
    opened. Safe to share between threads; close() (or `with`) releases it,
    after which validate() raises ClosedError."""

    _CACHE_MAX = 256  # distinct permission/env strings kept encoded

    def __init__(self, table):
        if not isinstance(table, str):
            raise TypeError("edgekey: table must be a str, not %s" % type(table).__name__)
        if "\0" in table:
            raise ValueError("edgekey: table contains a NUL character")
        self._table = table.encode()
        self._closed = False
        self._pool = [self._open()]  # opened now: a missing table raises here
        self._cache = {}

    def _open(self):
        out = _ffi.new("ek_validator **")
        rc = _lib.ek_open(self._table, out)
        if rc != 0:
            raise Error(rc)
        return _Slot(out[0])

    def _const(self, value, what):
        """_cstr of a value that repeats (permission, env), cached."""
        c = self._cache.get(value) if type(value) is str else None
        if c is None:
            c = _cstr(value, what)
            if type(value) is str and len(self._cache) < self._CACHE_MAX:
                self._cache[value] = c
        return c

    def validate(self, authorization, permission=None, client_ip=None, origin=None, env=None):
        """The answer for the Authorization header value ("Bearer <token>" or
        the bare token; None = no header: 401 missing_token). permission:
        what the operation needs (None or "" = nothing); client_ip: the
        caller's address (None = unknown, refused by keys with CIDRs);
        origin: the request's Origin (None = none); env: "live"/"test"
        (None = any). TypeError/ValueError for a non-string or an embedded NUL."""
        # Arguments first: a bad one raises before a slot is taken.
        a = authorization
        if type(a) is str:
            a = a.encode()
            if b"\0" in a:
                raise ValueError("edgekey: authorization contains a NUL character")
        elif a is not None:
            a = _bytes(a, "authorization")
        p = _NULL if permission is None else self._const(permission, "permission")
        e = _NULL if env is None else self._const(env, "env")
        i = None if client_ip is None else _bytes(client_ip, "client_ip")
        o = None if origin is None else _bytes(origin, "origin")
        pool = self._pool
        try:
            slot = pool.pop()
        except IndexError:
            if self._closed:
                raise ClosedError() from None
            slot = self._open()
        if self._closed:  # closed after we took it: nobody else frees it
            _lib.ek_close(slot.handle)
            raise ClosedError()
        try:
            if a is not None and len(a) < slot.caps[0]:  # the common case, inline
                slot.views[0][0:len(a) + 1] = a + b"\0"
                if not slot.set_[0]:
                    slot.req.authorization = slot.bufs[0]
                    slot.set_[0] = True
            else:
                slot.put(0, a)
            if i is not None or slot.set_[1]:
                slot.put(1, i)
            if o is not None or slot.set_[2]:
                slot.put(2, o)
            req = slot.req
            if slot.perm is not p:
                req.permission = slot.perm = p
            if slot.env is not e:
                req.env = slot.env = e
            res = slot.res
            _lib.ek_validate(slot.handle, req, res)  # 0: every argument is non-NULL
            r = Result(res.status, CODES[res.code], slot.buf[:])
        finally:
            pool.append(slot)
            if self._closed:
                self._drain()
        return r

    def _drain(self):
        pool = self._pool
        while True:
            try:
                slot = pool.pop()
            except IndexError:
                return
            _lib.ek_close(slot.handle)

    def close(self):
        """Releases the C validators; validate() then raises ClosedError.
        Callers inside validate() meanwhile finish, then free theirs."""
        self._closed = True
        self._drain()

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self.close()


from .middleware import WSGIMiddleware, ASGIMiddleware  # noqa: E402

__all__ += ["WSGIMiddleware", "ASGIMiddleware"]
