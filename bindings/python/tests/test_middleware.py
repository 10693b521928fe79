import asyncio
import json
from wsgiref.util import setup_testing_defaults

import edgekey


def wsgi_call(mw, headers, remote="203.0.113.7"):
    environ = {"REMOTE_ADDR": remote}
    environ.update(headers)
    setup_testing_defaults(environ)
    got = {}

    def start_response(status, hdrs):
        got["status"], got["headers"] = status, dict(hdrs)

    body = b"".join(mw(environ, start_response))
    return got["status"], got["headers"], body, environ


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("hello " + environ["edgekey.key_id"] + " " + environ["edgekey"].role).encode()]


def test_wsgi(table, tokens):
    with edgekey.Validator(table) as v:
        mw = edgekey.WSGIMiddleware(app, v, permission="agents:deploy")
        status, _, body, environ = wsgi_call(mw, {"HTTP_AUTHORIZATION": "Bearer " + tokens["sk_live_dev"]})
        assert (status, body) == ("200 OK", b"hello key_conf_dev developer")
        assert environ["edgekey.workspace"] == "ws_solar" and environ["edgekey.expires_at"] is None

        status, headers, body, _ = wsgi_call(mw, {})
        assert status == "401 Unauthorized"
        assert headers["WWW-Authenticate"] == "Bearer" and headers["X-Edgekey-Code"] == "missing_token"
        assert json.loads(body) == {"status": 401, "code": "missing_token"}

        mw = edgekey.WSGIMiddleware(app, v, permission=lambda env: "billing:manage")
        status, headers, body, _ = wsgi_call(mw, {"HTTP_AUTHORIZATION": "Bearer " + tokens["sk_live_expiring"]})
        assert status == "403 Forbidden" and headers["X-Edgekey-Key-Id"] == "key_conf_expiring"
        assert json.loads(body) == {"status": 403, "code": "insufficient_permission", "key_id": "key_conf_expiring",
                                    "workspace": "ws_solar", "type": "secret", "env": "live", "role": "developer",
                                    "expires_at": "2099-01-01T00:00:00Z"}

        mw = edgekey.WSGIMiddleware(app, v)
        status, _, body, _ = wsgi_call(mw, {"HTTP_AUTHORIZATION": "Bearer " + tokens["sk_live_cidr"]}, remote="10.0.0.1")
        assert status == "403 Forbidden" and json.loads(body)["code"] == "ip_not_allowed"
        status, _, _, _ = wsgi_call(mw, {"HTTP_AUTHORIZATION": "Bearer " + tokens["pk_live_web"],
                                         "HTTP_ORIGIN": "https://app.example.com"})
        assert status == "200 OK"
    status, _, body, _ = wsgi_call(mw, {"HTTP_AUTHORIZATION": "Bearer " + tokens["sk_live_dev"]})
    assert status == "503 Service Unavailable" and json.loads(body)["code"] == "keyset_unavailable"


def asgi_call(mw, headers, kind="http", client=("203.0.113.7", 5000)):
    sent = []
    seen = {}

    async def inner(scope, receive, send):
        seen["scope"] = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(msg):
        sent.append(msg)

    scope = {"type": kind, "headers": headers, "client": client, "path": "/"}
    asyncio.run(edgekey.ASGIMiddleware(inner, mw[0], **mw[1])(scope, receive, send))
    return sent, seen.get("scope")


def test_asgi(table, tokens):
    with edgekey.Validator(table) as v:
        auth = ("Bearer " + tokens["sk_test_analyst"]).encode()
        sent, scope = asgi_call((v, {"permission": "evaluations:read"}), [(b"authorization", auth)])
        assert sent[0]["status"] == 200 and scope["edgekey"].key_id == "key_conf_analyst"
        assert scope["state"]["edgekey"].env == "test"

        sent, scope = asgi_call((v, {"permission": "evaluations:read", "env": "live"}), [(b"Authorization", auth)])
        assert scope is None and sent[0]["status"] == 403
        assert (b"x-edgekey-code", b"wrong_env") in sent[0]["headers"]
        assert json.loads(sent[1]["body"])["code"] == "wrong_env"

        sent, scope = asgi_call((v, {}), [(b"authorization", auth), (b"authorization", auth)])
        assert scope is None and sent[0]["status"] == 401 and json.loads(sent[1]["body"])["code"] == "malformed_token"

        sent, scope = asgi_call((v, {}), [], kind="websocket")
        assert scope is None and sent == [{"type": "websocket.close", "code": 1008}]

        sent, scope = asgi_call((v, {}), [], kind="lifespan")
        assert scope is not None  # passed through unchecked
