#!/bin/sh
# pkg-config against an install prefix: libedgekey's install rules
# (BUILD/shm/cmake_install.cmake, what `cmake --install` runs for shm/) into
# TMP, then a C program built with `pkg-config --cflags --libs edgekey` (only the
# installed tree on its paths) opens a table that does not exist and must
# get EK_ERR_NO_TABLE from the installed library.
#   pkgconfig_check.sh BUILD_DIR CC
set -eu
build=$1
cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -DCMAKE_INSTALL_PREFIX="$tmp/prefix" -P "$build/shm/cmake_install.cmake" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
pc=$(dirname "$(find "$tmp/prefix" -name edgekey.pc | head -n 1)")
[ -f "$pc/edgekey.pc" ] || { echo "FAIL: no edgekey.pc installed"; exit 1; }
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs edgekey)
libdir=$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir edgekey)
case "$flags" in *"$tmp/prefix"*) ;; *) echo "FAIL: flags outside the prefix: $flags"; exit 1 ;; esac
cat >"$tmp/t.c" <<'C'
#include <edgekey/edgekey.h>
#include <stdio.h>
int main(void) {
  ek_validator *v;
  int rc = ek_open("edgekey-pkgconfig-check-no-such-table", &v);
  printf("%d\n", rc);
  return rc == EK_ERR_NO_TABLE ? 0 : 1;
}
C
# shellcheck disable=SC2086
"$cc" -Wall -Wextra -Werror "$tmp/t.c" -o "$tmp/t" $flags -Wl,-rpath,"$libdir"
ldd "$tmp/t" | grep -q "$tmp/prefix" || { echo "FAIL: not linked to the installed libedgekey"; ldd "$tmp/t"; exit 1; }
"$tmp/t"
echo "pkg-config --cflags --libs edgekey: $flags: ok"
