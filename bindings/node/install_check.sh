#!/bin/sh
# `npm install` of bindings/node into a fresh project, offline (node-addon-api
# from npm's cache, which the CMake configure step filled; the addon built by
# node-gyp against the installed Node's headers), then a validation through
# the installed package. Run under conformance_env (phase live).
#   install_check.sh BINDINGS_NODE_DIR
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
echo '{"name":"install-check","private":true}' >package.json
if ! npm install --offline --install-links --no-audit --no-fund --loglevel=error "$src" >npm.log 2>&1; then
  cat npm.log
  echo "FAIL: npm install --offline $src"
  exit 1
fi
out=$(node -e '
  const fs = require("fs");
  const edgekey = require("edgekey");
  if (!require.resolve("edgekey").startsWith(process.cwd())) throw new Error("not the installed package");
  const token = JSON.parse(fs.readFileSync(process.env.EDGEKEY_CONFORMANCE_TOKENS, "utf8")).sk_live_dev;
  const v = edgekey.open(process.env.EDGEKEY_CONFORMANCE_TABLE);
  const r = v.validate("Bearer " + token, { permission: "chat:write" });
  console.log(r.status, r.code, r.keyId);')
[ "$out" = "200 ok key_conf_dev" ] || { echo "FAIL: the installed package answered: $out"; exit 1; }
echo "npm install --offline bindings/node, require and validate: ok"
