#!/bin/sh
# check_includes.sh ROOT -- the project's layering, as includes: arrows point
# one way (daemon -> sync -> shm; in sync, upstream -> record), the daemon
# and sync reach shm only through its writer interface (shm/writer/), and
# what validates outside shm (nginx/, bindings/) uses only the public C API.
# Prints every include that breaks a rule, and exits 1 if there is one.
root=${1:?usage: check_includes.sh PROJECT_ROOT}
cd "$root" || exit 2
status=0

# forbid FOLDER REGEX WHY: no source file under FOLDER includes a quoted path
# matching REGEX.
forbid() {
  [ -d "$1" ] || { echo "layering: no folder $1 under $root"; status=1; return; }
  hits=$(grep -rnE --include='*.c' --include='*.h' --include='*.cpp' --include='*.hpp' --include='*.go' \
    "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"($2)" "$1")
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits" | sed "s|\$|    <- $3|"
    status=1
  fi
}

forbid shm 'sync/|daemon/' 'shm depends on nothing above it'
forbid sync 'daemon/' 'sync must not depend on the daemon'
forbid sync 'shm/src/' 'sync uses shm only through shm/writer/'
forbid sync/record 'sync/upstream/' 'the record layer must not depend on the upstream engine'
forbid daemon 'shm/src/' 'the daemon uses shm only through shm/writer/'
forbid nginx 'shm/|sync/|daemon/' 'the nginx module uses only <edgekey/edgekey.h>'
forbid bindings 'shm/|sync/|daemon/' 'the bindings use only <edgekey/edgekey.h>'

[ $status -eq 0 ] && echo "layering: every include follows the rules"
exit $status
