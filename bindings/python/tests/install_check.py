"""`pip install ./bindings/python` works offline with this python: installs
the package into a temp venv (--no-index: no network), then imports it there
and validates a key of the live keyset.

    install_check.py BINDINGS_PYTHON_DIR      (under conformance_env, phase live)

The installed package finds libedgekey through the path pkg-config gave its
build (PKG_CONFIG_PATH: the build tree's edgekey.pc), not EDGEKEY_LIBRARY."""
import json
import os
import subprocess
import sys
import sysconfig
import tempfile


def main():
    src = sys.argv[1]
    env = dict(os.environ)
    env.pop("EDGEKEY_LIBRARY", None)
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as work:
        # Copy the source: pip must not write into the checkout.
        subprocess.run(["cp", "-r", src, work + "/python"], check=True)
        # A venv seeing this python's packages (cffi, pip), as a user's
        # would: pip installs into it and finds cffi there, without a network.
        venv = work + "/venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv], check=True)
        py = venv + "/bin/python"
        cmd = [py, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--no-cache-dir",
               "--quiet", work + "/python"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
            return 1
        with open(os.environ["EDGEKEY_CONFORMANCE_TOKENS"]) as f:
            token = json.load(f)["sk_live_dev"]
        # With this python's headers (and cc, pkg-config's edgekey.h, as here)
        # the build compiles edgekey._speedups into the wheel.
        compiled = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
        probe = ("import edgekey, os, sys\n"
                 "assert edgekey.__file__.startswith(sys.argv[1]), edgekey.__file__\n"
                 "assert (edgekey._speedups is not None) == (sys.argv[2] == '1'), edgekey._speedups\n"
                 "with edgekey.Validator(os.environ['EDGEKEY_CONFORMANCE_TABLE']) as v:\n"
                 "    r = v.validate(sys.stdin.read(), permission='chat:write')\n"
                 "print(r.status, r.code, r.key_id)\n")
        r = subprocess.run([py, "-c", probe, venv, "1" if compiled else "0"], input="Bearer " + token, env=env,
                           capture_output=True, text=True, cwd=work)
        if r.returncode != 0 or r.stdout.strip() != "200 ok key_conf_dev":
            print("FAIL: the installed package answered %r (stderr %s)" % (r.stdout, r.stderr[-2000:]))
            return 1
    print("%s: pip install --no-index ./bindings/python, import and validate (%s): ok"
          % (sys.executable, "compiled" if compiled else "cffi"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
