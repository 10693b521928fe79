#!/bin/sh
# Instructions per call of the Python binding's validate (C's ek_validate
# included: ~2.4k of them with the conformance keyset), counted by
# callgrind: a figure a busy host does not move (this VM has no hardware
# counters for perf stat). Run through
# conformance_env, which starts edgekeyd on the conformance keyset:
#   B=build-bindings; $B/tests/conformance/conformance_env --edgekeyd $B/daemon/edgekeyd/edgekeyd \
#     --cases tests/conformance/cases.json --phase live -- sh bench/bindings/python_instructions.sh $B
# (the difference of a run of 20000 calls and one of none, so start-up cancels out).
# The compiled path (BUILD_DIR's edgekey._speedups) when built, else cffi's;
# EDGEKEY_PYTHON_EXTENSION= (empty) measures the cffi path.
set -eu
build=${1:?usage: python_instructions.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
ext=${EDGEKEY_PYTHON_EXTENSION-$(ls "$build"/bindings/python/_speedups*.so 2>/dev/null | head -n1)}
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/loop.py" <<'PY'
import json, os, sys
import edgekey
tokens = json.load(open(os.environ["EDGEKEY_CONFORMANCE_TOKENS"]))
auth = "Bearer " + tokens["sk_live_dev"]
v = edgekey.Validator(os.environ["EDGEKEY_CONFORMANCE_TABLE"])
validate = v.validate
for _ in range(int(sys.argv[1])):
    validate(auth, permission="chat:write").ok
PY
ir() {  # instructions of a run of $1 calls
  PYTHONHASHSEED=0 PYTHONPATH="$src/bindings/python" EDGEKEY_LIBRARY="$build/shm/libedgekey.so" EDGEKEY_PYTHON_EXTENSION="$ext" \
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
    /usr/bin/python3 "$tmp/loop.py" "$1" 2>&1 >/dev/null | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
a=$(ir 0)
b=$(ir 20000)
path=cffi
[ -z "$ext" ] || path=compiled
echo "python validate ($path path): $(((b - a) / 20000)) instructions per call"
