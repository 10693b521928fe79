#!/usr/bin/env bash
# Runs examples/multi-region/run against this build (three nats-servers, two
# edgekeyd, a key created, validated in both regions, revoked and refused in
# both) and keeps the logs it wrote for tests/logscan. Its exit status is the
# example's: non-zero when a region still accepts the revoked key after 10 s,
# or anything fails to start.
#   multi_region_example.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
BUILD=$build "$src/examples/multi-region/run"
rc=$?
if [ -n "${EDGEKEY_TEST_LOG_DIR:-}" ]; then
  mkdir -p "$EDGEKEY_TEST_LOG_DIR"
  for f in "$build"/run/multi-region/*.log; do
    [ -e "$f" ] && cp "$f" "$EDGEKEY_TEST_LOG_DIR/example-multi-region-$$-$(basename "$f")"
  done
fi
exit $rc
