#!/usr/bin/env bash
# Builds ngx_http_edgekey_module.so as Debian builds its nginx modules
# (Debian's nginx_mod debhelper class): nginx's own ./configure, with the
# flags the installed nginx was built with (nginx-dev's conf_flags, among
# them --with-compat), then `make modules`. nginx-dev's tree is read-only
# here: configure runs in a tree of symlinks to it under OUT.
#   build_module.sh OUT MODULE_DIR INCLUDE_DIR LIB_DIR RUNPATH NGINX_SRC
# Writes OUT/objs/ngx_http_edgekey_module.so; configure's output goes to
# OUT/configure.log (configure runs again only when MODULE_DIR/config changes).
set -euo pipefail
out=$1 module=$2 include=$3 lib=$4 runpath=$5 src=$6
tree=$out/ngx
mkdir -p "$tree"
for f in auto src configure conf_flags; do
  [ -e "$src/$f" ] || { echo "build_module.sh: $src/$f missing: install Debian's nginx-dev" >&2; exit 1; }
  ln -sfn "$src/$f" "$tree/$f"
done
export EDGEKEY_INCLUDE_DIR=$include EDGEKEY_LIB_DIR=$lib EDGEKEY_RUNPATH=$runpath
stamp=$out/configured.stamp
want="$(cat "$module/config") $include $lib $runpath $src"
if [ ! -f "$out/objs/Makefile" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -f "$stamp"
  # shellcheck disable=SC1091
  if ! (cd "$tree" && . ./conf_flags && ./configure \
        --with-cc-opt="-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2" \
        --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC" \
        "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$module" --builddir="$out/objs") >"$out/configure.log" 2>&1; then
    echo "build_module.sh: nginx's configure failed; the end of $out/configure.log:" >&2
    tail -20 "$out/configure.log" >&2
    exit 1
  fi
  printf '%s' "$want" >"$stamp"
fi
make -s -C "$tree" -f "$out/objs/Makefile" modules
