"""WSGI and ASGI middleware (standard library only, any framework).

They answer a refused request as edgekeyd's socket does (401/403/503, JSON
body {"status", "code", key fields}, X-Edgekey-Code, WWW-Authenticate:
Bearer on 401) and pass an accepted one on with its Result:
  WSGI: environ["edgekey"] (the Result) and environ["edgekey.key_id"],
        ["edgekey.workspace"], ["edgekey.role"], ["edgekey.type"],
        ["edgekey.env"], ["edgekey.expires_at"];
  ASGI: scope["edgekey"] (the Result) and scope["state"]["edgekey"].

permission: a str, None (no permission needed), or a callable given the
environ (WSGI) or scope (ASGI) that returns one. client_ip: a callable
returning the caller's address; by default REMOTE_ADDR / scope["client"]
(behind a proxy, pass one that reads the header your proxy sets).
"""
import json

from . import Error

_REASONS = {401: "401 Unauthorized", 403: "403 Forbidden", 503: "503 Service Unavailable"}
_KEY_FIELDS = ("key_id", "workspace", "type", "env", "role", "expires_at")


def _time(t):
    if t is None:
        return None
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _refusal(status, code, result=None):
    """(status, headers, body) as the socket answers."""
    body = {"status": status, "code": code}
    headers = [("Content-Type", "application/json"), ("X-Edgekey-Code", code)]
    if status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))
    if result is not None and result.key_id is not None:
        for f in _KEY_FIELDS:
            v = getattr(result, f)
            body[f] = _time(v) if f == "expires_at" else v
        headers += [("X-Edgekey-Key-Id", result.key_id), ("X-Edgekey-Workspace", result.workspace),
                    ("X-Edgekey-Role", result.role or ""), ("X-Edgekey-Type", result.type or ""),
                    ("X-Edgekey-Env", result.env or "")]
    return status, headers, (json.dumps(body, separators=(",", ":")) + "\n").encode()


class _Base:
    def __init__(self, app, validator, permission=None, env=None, client_ip=None):
        self.app = app
        self.validator = validator
        self.permission = permission
        self.env = env
        self.client_ip = client_ip

    def _check(self, ctx, authorization, client_ip, origin):
        """A Result, or (status, headers, body) to answer with."""
        perm = self.permission(ctx) if callable(self.permission) else self.permission
        try:
            r = self.validator.validate(authorization, permission=perm, client_ip=client_ip,
                                        origin=origin, env=self.env)
        except Error:  # the validator was closed: no table to answer from
            return _refusal(503, "keyset_unavailable")
        except ValueError:  # a NUL or invalid text in a header: no usable key
            return _refusal(401, "malformed_token")
        if not r.ok:
            return _refusal(r.status, r.code, r)
        return r


class WSGIMiddleware(_Base):
    """app = edgekey.WSGIMiddleware(app, validator, permission="chat:write")"""

    def __call__(self, environ, start_response):
        ip = self.client_ip(environ) if self.client_ip else environ.get("REMOTE_ADDR")
        out = self._check(environ, environ.get("HTTP_AUTHORIZATION"), ip, environ.get("HTTP_ORIGIN"))
        if isinstance(out, tuple):
            status, headers, body = out
            start_response(_REASONS[status], headers + [("Content-Length", str(len(body)))])
            return [body]
        environ["edgekey"] = out
        for f in _KEY_FIELDS:
            environ["edgekey." + f] = getattr(out, f)
        return self.app(environ, start_response)


class ASGIMiddleware(_Base):
    """app = edgekey.ASGIMiddleware(app, validator, permission="chat:write")
    Checks "http" and "websocket" scopes; others (lifespan) pass through."""

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        auth = []
        origin = None
        for name, value in scope.get("headers") or ():
            name = name.lower()
            if name == b"authorization":
                auth.append(value)
            elif name == b"origin" and origin is None:
                origin = value
        if self.client_ip:
            ip = self.client_ip(scope)
        else:
            client = scope.get("client")
            ip = client[0] if client else None
        if len(auth) > 1:  # ambiguous: which key? (the socket answers the same)
            out = _refusal(401, "malformed_token")
        else:
            out = self._check(scope, auth[0] if auth else None, ip, origin)
        if isinstance(out, tuple):
            status, headers, body = out
            if kind == "websocket":  # refused before accept: the server answers 403
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": status,
                        "headers": [(k.lower().encode(), v.encode()) for k, v in headers] +
                                   [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope = dict(scope)
        scope["edgekey"] = out
        state = dict(scope.get("state") or {})
        state["edgekey"] = out
        scope["state"] = state
        return await self.app(scope, receive, send)
