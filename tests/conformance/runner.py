"""The Python binding's conformance runner (contract: README.md here):
every case of the phase through edgekey.Validator.validate."""
import json
import os
import sys

import edgekey

FIELDS = ("status", "code", "key_id", "workspace", "role", "type", "env", "expires_at")


def expand(text, tokens):
    out, at = [], 0
    while True:
        o = text.find("{", at)
        c = text.find(":", o + 1) if o >= 0 else -1
        e = text.find("}", o + 1) if o >= 0 else -1
        if o < 0 or c < 0 or e < 0 or c > e:
            break
        kind, name = text[o + 1:c], text[c + 1:e]
        t = tokens[name]
        if kind == "badcheck":
            t = t[:-1] + ("B" if t[-1] == "A" else "A")
        elif kind == "truncated":
            t = t[:-1]
        elif kind != "token":
            sys.exit("runner.py: unknown substitution {%s:...}" % kind)
        out.append(text[at:o] + t)
        at = e + 1
    return "".join(out) + text[at:]


def main():
    env = os.environ
    with open(env["EDGEKEY_CONFORMANCE_CASES"]) as f:
        doc = json.load(f)
    with open(env["EDGEKEY_CONFORMANCE_TOKENS"]) as f:
        tokens = json.load(f)
    phase = env["EDGEKEY_CONFORMANCE_PHASE"]
    ran = failed = 0
    with edgekey.Validator(env["EDGEKEY_CONFORMANCE_TABLE"]) as v:
        for c in doc["cases"]:
            if c.get("phase", "live") != phase:
                continue
            ran += 1
            auth = c.get("authorization")
            r = v.validate(None if auth is None else expand(auth, tokens), permission=c.get("permission"),
                           client_ip=c.get("client_ip"), origin=c.get("origin"), env=c.get("env"))
            bad = [(f, w, getattr(r, f)) for f, w in c["expect"].items() if getattr(r, f) != w]
            for f, want, got in bad:
                print("FAIL %s [python]: %s expected %s, got %s" % (c["name"], f, json.dumps(want), json.dumps(got)))
            failed += bool(bad)
    print("python path, phase %s: %d of %d cases as expected" % (phase, ran - failed, ran))
    if ran == 0:
        print("FAIL: no case in phase " + phase)
    return 1 if failed or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
