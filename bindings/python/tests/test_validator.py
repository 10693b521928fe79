import gc
import os
import threading
import time

import pytest

import edgekey


def test_ok_fields(table, tokens):
    with edgekey.Validator(table) as v:
        r = v.validate("Bearer " + tokens["sk_live_dev"], permission="agents:deploy", client_ip="203.0.113.7")
        assert (r.status, r.code, r.ok) == (200, "ok", True)
        assert (r.key_id, r.workspace, r.role, r.type, r.env, r.expires_at) == \
            ("key_conf_dev", "ws_solar", "developer", "secret", "live", None)
        r = v.validate(tokens["sk_live_expiring"])
        assert r.ok and r.expires_at == 4070908800


def test_refusals_keep_key_fields(table, tokens):
    with edgekey.Validator(table) as v:
        r = v.validate("Bearer " + tokens["sk_live_dev"], permission="billing:manage")
        assert (r.status, r.code, r.ok, r.key_id) == (403, "insufficient_permission", False, "key_conf_dev")
        r = v.validate("Bearer " + tokens["sk_live_unknown"])
        assert (r.status, r.code, r.key_id, r.type, r.expires_at) == (401, "unknown_key", None, None, None)


def test_bytes_accepted(table, tokens):
    with edgekey.Validator(table) as v:
        assert v.validate(("Bearer " + tokens["sk_live_dev"]).encode(), permission=b"chat:write").ok


def test_bad_input(table, tokens):
    with edgekey.Validator(table) as v:
        assert (v.validate(None).status, v.validate(None).code) == (401, "missing_token")
        assert v.validate("").code == "missing_token"
        for bad in (42, 1.5, object(), ["Bearer x"], {"a": 1}):
            with pytest.raises(TypeError):
                v.validate(bad)
            with pytest.raises(TypeError):
                v.validate("Bearer " + tokens["sk_live_dev"], permission=bad)
        with pytest.raises(ValueError, match="NUL"):
            v.validate("Bearer " + tokens["sk_live_dev"] + "\0trailing")
        with pytest.raises(ValueError, match="NUL"):
            v.validate("Bearer " + tokens["sk_live_dev"], origin="https://a\0b")
        big = "Bearer " + "A" * (1 << 20)
        r = v.validate(big)
        assert (r.status, r.code) == (401, "malformed_token")
        r = v.validate("Bearer " + tokens["sk_live_dev"], permission="p" * (1 << 20), client_ip="1" * (1 << 20))
        assert r.status == 403
        # The slot's grown buffers and NULLed fields give the same answers after.
        assert v.validate("Bearer " + tokens["sk_live_cidr"], client_ip="203.0.113.9").ok
        assert v.validate("Bearer " + tokens["sk_live_cidr"]).code == "ip_not_allowed"
        assert v.validate(tokens["pk_live_web"], origin="https://app.example.com").ok
        assert v.validate(tokens["pk_live_web"]).code == "origin_not_allowed"
        assert v.validate(tokens["sk_live_dev"], permission="billing:manage").code == "insufficient_permission"
        assert v.validate(tokens["sk_live_dev"]).ok


def test_surrogate_is_a_clear_error(table):
    with edgekey.Validator(table) as v:
        with pytest.raises(UnicodeEncodeError):
            v.validate("Bearer \udcff")


def test_open_error():
    with pytest.raises(edgekey.Error) as e:
        edgekey.Validator("ekconf-no-such-table-%d" % id(e))
    assert e.value.code == -2
    assert "edgekeyd is running" in str(e.value)
    with pytest.raises(TypeError):
        edgekey.Validator(None)
    with pytest.raises(ValueError):
        edgekey.Validator("a\0b")


def test_use_after_close(table, tokens):
    v = edgekey.Validator(table)
    assert v.validate(tokens["sk_live_dev"]).ok
    v.close()
    assert v.closed
    with pytest.raises(edgekey.ClosedError):
        v.validate(tokens["sk_live_dev"])
    v.close()  # idempotent
    with edgekey.Validator(table) as w:
        pass
    with pytest.raises(edgekey.Error):
        w.validate(tokens["sk_live_dev"])


def test_result_outlives_validator(table, tokens):
    v = edgekey.Validator(table)
    r = v.validate(tokens["sk_live_dev"])
    v.close()
    del v
    gc.collect()
    assert (r.key_id, r.workspace, r.role) == ("key_conf_dev", "ws_solar", "developer")


def test_threads_share_one_validator(table, tokens):
    v = edgekey.Validator(table)
    errors = []
    names = ["sk_live_dev", "sk_test_analyst", "sk_live_revoked", "sk_live_unknown"]
    want = {n: (v.validate(tokens[n]).status, v.validate(tokens[n]).key_id) for n in names}

    def work(i):
        try:
            for k in range(3000):
                n = names[(i + k) % len(names)]
                r = v.validate(tokens[n])
                if (r.status, r.key_id) != want[n]:
                    errors.append((n, r))
                    return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 <= v._open_validators() <= 8  # one C validator per concurrent caller (cffi) or one (compiled)
    v.close()


def test_close_while_threads_validate(table, tokens):
    for _ in range(5):
        v = edgekey.Validator(table)
        seen = {"ok": 0, "closed": 0}
        other = []
        go = threading.Event()

        def work():
            go.wait()
            while True:
                try:
                    r = v.validate(tokens["sk_live_dev"])
                    if not r.ok:
                        other.append(r)
                    seen["ok"] += 1
                except edgekey.ClosedError:
                    seen["closed"] += 1
                    return
                except Exception as e:  # pragma: no cover
                    other.append(e)
                    return

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        go.set()
        deadline = time.monotonic() + 30
        while seen["ok"] < 200 and time.monotonic() < deadline:
            time.sleep(0.001)  # poll interval of the condition
        assert seen["ok"] >= 200
        v.close()
        for t in threads:
            t.join()
        assert other == []
        assert seen["closed"] == 4
        assert v._open_validators() == 0  # every C validator released


def test_the_path_asked_for():
    """EDGEKEY_PYTHON_EXTENSION (set by the tests' CMake): a file = the
    compiled path, "" = the cffi path."""
    want = os.environ.get("EDGEKEY_PYTHON_EXTENSION")
    if want is None:
        pytest.skip("EDGEKEY_PYTHON_EXTENSION is not set: either path")
    assert (edgekey._speedups is not None) == bool(want)


def test_result_type_and_arguments(table, tokens):
    with edgekey.Validator(table) as v:
        dev = tokens["sk_live_dev"]
        r = v.validate(dev, "agents:deploy", "203.0.113.7", None, "live")
        assert isinstance(r, edgekey.Result) and r.ok
        assert r.as_dict() == {"status": 200, "code": "ok", "key_id": "key_conf_dev", "workspace": "ws_solar",
                               "role": "developer", "type": "secret", "env": "live", "expires_at": None}
        assert repr(r) == "Result(%r)" % (r.as_dict(),)
        assert v.validate(authorization=dev, env="test").code == "wrong_env"
        assert v.validate(dev, **{"permission": "billing:" + "manage"}).code == "insufficient_permission"
        for bad in ((), (dev, None, None, None, None, None)):
            with pytest.raises(TypeError):
                v.validate(*bad)
        with pytest.raises(TypeError):
            v.validate(dev, nope=1)
        with pytest.raises(TypeError):
            v.validate(dev, "chat:write", permission="chat:write")
        r = v.validate(bytearray(("Bearer " + dev).encode()), permission=memoryview(b"chat:write"))
        assert r.ok and r.key_id == "key_conf_dev"
        r = v.validate("Bearer " + tokens["sk_live_unknown"])
        assert r.as_dict() == {"status": 401, "code": "unknown_key", "key_id": None, "workspace": None,
                               "role": None, "type": None, "env": None, "expires_at": None}
