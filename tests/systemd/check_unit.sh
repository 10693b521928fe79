#!/usr/bin/env bash
# check_unit.sh -- tests of systemd/: the unit, its sysusers.d and tmpfiles.d
# files. None needs systemd as PID 1, and none touches the real /etc or /run.
#
#   check_unit.sh CHECK SYSTEMD_DIR EDGEKEYD [NOTIFY_DRIVER]
#
# CHECK is one of
#   verify     systemd-analyze verify on a copy of the unit whose ExecStart/
#              ExecReload run the built EDGEKEYD: no line about our unit.
#   security   systemd-analyze security --offline: the exposure score must not
#              exceed EXPOSURE_BOUND below (a hardening regression fails).
#   promises   the unit keeps the shared-memory promises (no PrivateDevices,
#              DynamicUser, PrivateUsers; RemoveIPC=no; the runtime directory
#              preserved; /dev/shm neither hidden nor read-only) and its
#              system-call allow list has what edgekeyd calls on its segments.
#   sysusers-tmpfiles
#              systemd-sysusers and systemd-tmpfiles --create into a temp root:
#              users, groups, membership, modes and owners (needs root: 77).
#   sandbox    runs EDGEKEYD through its life cycle under strace (driven by
#              NOTIFY_DRIVER as systemd would: READY, WATCHDOG, requests, a
#              keyset change, SIGHUP, SIGTERM) as an unprivileged user without
#              capabilities (as root: nobody via setpriv, with a supplementary
#              group standing for edgekey-readers, no_new_privs, an empty
#              bounding set) and with the unit's UMask, then checks every system
#              call against the unit's sandbox: SystemCallFilter, address
#              families, MemoryDenyWriteExecute, LockPersonality,
#              RestrictSUIDSGID, RestrictNamespaces, writes only where
#              ProtectSystem=strict allows, no /proc beyond ProcSubset=pid, no
#              device but the pseudo devices; and that the table stays in
#              /dev/shm after the stop, mode 0640, group readers_group.
#              (77 without strace or ptrace.)
#   selftest   breaks copies of the unit in known ways and checks that verify,
#              security, promises and (with strace) sandbox each fail on them.
#
# Every check runs a copy of EDGEKEYD installed into a temp prefix standing
# for /usr (the unit's ExecStart=/usr/sbin/edgekeyd): what is judged is the
# daemon's behaviour, not where the build lives (a clone under /root or
# /home, which ProtectHome=yes hides and the daemon's user may not traverse).
#
# Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
# EDGEKEY_SYSTEMD_KEEP=1 keeps the temp directory (traces, logs) for a look.
# EDGEKEY_TEST_LOG_DIR (set by ctest): each sandbox run's daemon log is copied
# there for tests/logscan's token scan.
set -u -o pipefail

# Measured with systemd 252 (Debian 12) on systemd/edgekeyd.service: 1.6.
# The bound is the measured value rounded up to the next 0.1: any hardening
# option removed or weakened raises the score above it. Lower it when the
# unit gets tighter (the check says so).
EXPOSURE_BOUND=1.6

CHECK=${1:?usage: check_unit.sh CHECK SYSTEMD_DIR EDGEKEYD [NOTIFY_DRIVER]}
SYSTEMD_DIR=$(realpath -e "${2:?systemd directory}") || exit 1
EDGEKEYD=$(realpath -e "${3:?edgekeyd binary}") || exit 1
NOTIFY_DRIVER=${4:+$(realpath -e "$4")}
UNIT_SRC=$SYSTEMD_DIR/edgekeyd.service
UNIT_NAME=edgekeyd.service

# The temp tree stands for /etc/edgekey, /var/lib/edgekey, /run/edgekey and
# /usr: never under a home, which the unit cannot see.
TMP_ROOT=${TMPDIR:-/tmp}
case $(realpath -m "$TMP_ROOT") in /root | /root/* | /home | /home/* | /run/user | /run/user/*) TMP_ROOT=/tmp ;; esac
WORK=$(mktemp -d "$TMP_ROOT/edgekey-systemd.XXXXXX") || exit 1
SHM_TABLES=()  # tables the sandbox runs leave in /dev/shm (by design)
cleanup() {
  local t
  for t in "${SHM_TABLES[@]}"; do rm -rf "/dev/shm/$t" /dev/shm/"$t".g* /dev/shm/"$t".usage; done
  if [[ -n ${EDGEKEY_SYSTEMD_KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# With EDGEKEY_TEST_LOG_DIR set (ctest, tests/logscan), a copy of log $1 of
# what $2 goes there for the token scan, one file per daemon run.
KEPT_LOGS=0
keep_log() {
  [[ -n ${EDGEKEY_TEST_LOG_DIR:-} ]] || return 0
  mkdir -p "$EDGEKEY_TEST_LOG_DIR" &&
    cp "$1" "$EDGEKEY_TEST_LOG_DIR/check_unit.$CHECK-$$-$((KEPT_LOGS++))-$2.log"
}

say() { printf '%s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; }
need_tool() { command -v "$1" >/dev/null 2>&1 || { say "SKIP: $1 not found"; exit 77; }; }

need_tool systemd-analyze
[[ -r $UNIT_SRC ]] || { fail "no unit at $UNIT_SRC"; exit 1; }

# ---- the daemon as the unit finds it ----------------------------------------

# Installs EDGEKEYD as $PREFIX/sbin/edgekeyd ($PREFIX stands for /usr, read
# only to the daemon) and points EDGEKEYD at it. Shared libraries it resolves
# outside the system's directories (a build of shared project libraries) are
# installed into $PREFIX/lib and found through DAEMON_LIBRARY_PATH.
PREFIX=$WORK/usr
DAEMON_LIBRARY_PATH=
install_daemon() {
  local lib
  install -d -m 0755 "$PREFIX/sbin" && install -m 0755 "$EDGEKEYD" "$PREFIX/sbin/edgekeyd" ||
    { fail "cannot install $EDGEKEYD into $PREFIX/sbin"; exit 1; }
  while read -r lib; do
    case $lib in /lib/* | /lib64/* | /usr/*) continue ;; esac
    install -d -m 0755 "$PREFIX/lib" && install -m 0644 "$lib" "$PREFIX/lib/" ||
      { fail "cannot install $lib into $PREFIX/lib"; exit 1; }
    DAEMON_LIBRARY_PATH=$PREFIX/lib
  done < <(ldd "$EDGEKEYD" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  chmod 0755 "$WORK"  # the daemon's user reaches $PREFIX
  EDGEKEYD=$PREFIX/sbin/edgekeyd
}
install_daemon

# ---- the unit as data ------------------------------------------------------

# A copy of unit $1 in directory $2 (as edgekeyd.service) that runs the built
# binary instead of /usr/sbin/edgekeyd, which is not installed here.
installable_copy() {
  local src=$1 dir=$2 n
  mkdir -p "$dir"
  n=$(grep -c '/usr/sbin/edgekeyd' "$src")
  [[ $n -ge 1 ]] || { fail "$src: no /usr/sbin/edgekeyd to point at the built binary"; return 1; }
  sed "s#/usr/sbin/edgekeyd#$EDGEKEYD#g" "$src" >"$dir/$UNIT_NAME"
  [[ $(grep -c -F "$EDGEKEYD" "$dir/$UNIT_NAME") -ge $n ]] || { fail "substitution of the binary failed"; return 1; }
}

# "Key<TAB>value" for each assignment of the [Service] section, in order
# (comments and other sections dropped, whitespace around '=' trimmed).
service_settings() {
  awk '
    /^[[:space:]]*[#;]/ || /^[[:space:]]*$/ { next }
    /^[[:space:]]*\[/ { section = $0; gsub(/[[:space:]]/, "", section); next }
    section == "[Service]" {
      line = $0; eq = index(line, "="); if (!eq) next
      k = substr(line, 1, eq - 1); v = substr(line, eq + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", k); gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
      print k "\t" v
    }' "$1"
}
# The effective (last) value of setting $2 in unit $1; "" when unset or reset.
last_value() { service_settings "$1" | awk -F'\t' -v k="$2" '$1 == k { v = $2 } END { print v }'; }
all_values() { service_settings "$1" | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }
is_true() { [[ ${1,,} =~ ^(1|yes|true|on)$ ]]; }
is_false() { [[ ${1,,} =~ ^(0|no|false|off)$ ]]; }

# The system calls of a filter group, groups inside it expanded.
declare -A GROUP_MEMO=()
expand_group() {
  local g=$1 entry out=""
  if [[ -n ${GROUP_MEMO[$g]+x} ]]; then printf '%s' "${GROUP_MEMO[$g]}"; return 0; fi
  local listing
  listing=$(systemd-analyze syscall-filter --no-pager "$g" 2>&1) || { fail "unknown syscall group $g: $listing"; return 1; }
  while read -r entry; do
    [[ -z $entry || $entry == \#* || $entry == "$g" ]] && continue
    if [[ $entry == @* ]]; then out+=$(expand_group "$entry")$'\n' || return 1; else out+="$entry"$'\n'; fi
  done <<<"$listing"
  GROUP_MEMO[$g]=$out
  printf '%s' "$out"
}

# The system calls unit $1 allows, one per line, following systemd's rules:
# the first SystemCallFilter= line decides allow-list mode (and then adds
# @default); later lines add (plain) or remove (~) in order; "" resets.
allowed_syscalls() {
  local unit=$1 line invert tok name mode=""
  declare -A allowed=()
  while IFS= read -r line; do
    if [[ -z $line ]]; then allowed=(); mode=""; continue; fi
    invert=0
    [[ $line == \~* ]] && { invert=1; line=${line#\~}; }
    if [[ -z $mode ]]; then
      if ((invert)); then fail "SystemCallFilter= starts with a deny list: this check expects an allow list"; return 1; fi
      mode=allow
      while read -r name; do [[ -n $name ]] && allowed[$name]=1; done < <(expand_group @default)
    fi
    for tok in $line; do
      tok=${tok%%:*}  # an ":errno" suffix
      local names
      if [[ $tok == @* ]]; then names=$(expand_group "$tok") || return 1; else names=$tok; fi
      while read -r name; do
        [[ -z $name ]] && continue
        if ((invert)); then unset "allowed[$name]"; else allowed[$name]=1; fi
      done <<<"$names"
    done
  done < <(all_values "$unit" SystemCallFilter)
  [[ -n $mode ]] || { fail "$unit: no SystemCallFilter="; return 1; }
  printf '%s\n' "${!allowed[@]}" | sort
}

# ---- the checks (each returns 0 or 1, printing why) -----------------------

check_verify() {
  local unit=$1 out rc bad
  # --recursive-errors=no: the exit status is about our unit only; units it
  # pulls in (sysinit.target, ...) may be broken in a container.
  out=$(cd "$(dirname "$unit")" && systemd-analyze verify --recursive-errors=no --man=no "$unit" 2>&1)
  rc=$?
  # Any line naming our unit, its file or the daemon is ours to fix.
  bad=$(grep -E -e "$UNIT_NAME" -e "$(dirname "$unit")" -e 'edgekeyd' -e 'edgekey' <<<"$out")
  if [[ -n $out && -z $bad ]]; then
    say "systemd-analyze verify printed lines not about $UNIT_NAME (ignored):"
    sed 's/^/  | /' <<<"$out"
  fi
  if [[ -n $bad ]]; then fail "systemd-analyze verify complains about the unit:"; sed 's/^/  | /' <<<"$bad"; return 1; fi
  if [[ $rc -ne 0 ]]; then fail "systemd-analyze verify exited $rc"; sed 's/^/  | /' <<<"$out"; return 1; fi
  say "verify: no warning for $UNIT_NAME"
}

exposure_of() {
  local out
  out=$(systemd-analyze security --offline=true --no-pager "$1" 2>&1) || { fail "systemd-analyze security failed:"; sed 's/^/  | /' <<<"$out"; return 1; }
  sed -n "s/^.*Overall exposure level for $UNIT_NAME: \([0-9][0-9]*\.[0-9]\).*$/\1/p" <<<"$out" | head -n1
}

check_security() {
  local unit=$1 score
  score=$(exposure_of "$unit") || return 1
  [[ -n $score ]] || { fail "no 'Overall exposure level' line from systemd-analyze security"; return 1; }
  if awk -v s="$score" -v b="$EXPOSURE_BOUND" 'BEGIN { exit !(s + 0 > b + 0) }'; then
    fail "exposure $score is above the recorded bound $EXPOSURE_BOUND: a hardening option was removed or weakened"
    systemd-analyze security --offline=true --no-pager "$unit" 2>&1 | grep '✗' | sed 's/^/  | /'
    return 1
  fi
  if awk -v s="$score" -v b="$EXPOSURE_BOUND" 'BEGIN { exit !(s + 0.05 < b + 0) }'; then
    say "note: exposure $score is below the bound $EXPOSURE_BOUND; lower EXPOSURE_BOUND in $0 to keep the gain"
  fi
  say "security: exposure $score (bound $EXPOSURE_BOUND)"
}

check_promises() {
  local unit=$1 bad=0 v k path
  v=$(last_value "$unit" PrivateDevices)
  is_true "$v" && { fail "PrivateDevices=$v: a private /dev has its own empty /dev/shm, the workers would never see the table"; bad=1; }
  v=$(last_value "$unit" DynamicUser)
  is_true "$v" && { fail "DynamicUser=$v: implies RemoveIPC=yes and a changing uid, the table would not survive a stop"; bad=1; }
  v=$(last_value "$unit" PrivateUsers)
  is_true "$v" && { fail "PrivateUsers=$v: edgekey-readers would be unmapped, fchown() of the segments fails"; bad=1; }
  v=$(last_value "$unit" RemoveIPC)
  is_false "$v" || { fail "RemoveIPC must be set to no explicitly (got '${v}'): yes deletes the user's /dev/shm segments at stop"; bad=1; }
  v=$(last_value "$unit" RuntimeDirectoryPreserve)
  is_true "$v" || { fail "RuntimeDirectoryPreserve must be yes (got '${v}'): the socket directory survives restarts"; bad=1; }
  all_values "$unit" RuntimeDirectory | tr ' ' '\n' | grep -qx edgekey || { fail "RuntimeDirectory= lacks edgekey"; bad=1; }
  all_values "$unit" SupplementaryGroups | tr ' ' '\n' | grep -qx edgekey-readers ||
    { fail "SupplementaryGroups= lacks edgekey-readers: edgekeyd fchown()s its segments to that group"; bad=1; }
  [[ $(last_value "$unit" User) == edgekey ]] || { fail "User= is not edgekey (a static user owns the segments)"; bad=1; }
  [[ $(last_value "$unit" Type) == notify ]] || { fail "Type= is not notify"; bad=1; }
  all_values "$unit" ExecReload | grep -q 'kill -HUP \$MAINPID' || { fail "ExecReload= does not send SIGHUP to \$MAINPID"; bad=1; }
  v=$(last_value "$unit" WatchdogSec)
  [[ -n $v && $v != 0 && ${v,,} != infinity ]] || { fail "WatchdogSec= unset: edgekeyd sends WATCHDOG=1"; bad=1; }
  all_values "$unit" RestrictAddressFamilies | tr ' ' '\n' | grep -qx AF_UNIX ||
    { fail "RestrictAddressFamilies= lacks AF_UNIX (socket, sd_notify)"; bad=1; }
  # No path option may hide /dev/shm or make it read-only.
  for k in InaccessiblePaths ReadOnlyPaths TemporaryFileSystem BindReadOnlyPaths BindPaths; do
    while read -r path; do
      path=${path#-}; path=${path#+}; path=${path%%:*}
      case $path in
        /dev | /dev/ | /dev/shm | /dev/shm/*) fail "$k=$path hides or freezes /dev/shm"; bad=1 ;;
      esac
    done < <(all_values "$unit" "$k" | tr ' ' '\n')
  done
  # What edgekeyd calls on its segments, socket and keyset must pass the filter.
  local allowed
  allowed=$(allowed_syscalls "$unit") || return 1
  for k in fchown fchmod openat ftruncate mmap munmap flock inotify_init1 inotify_add_watch \
           bind listen accept4 unlink rename fsync; do
    grep -qx "$k" <<<"$allowed" || { fail "SystemCallFilter= does not allow $k, which edgekeyd needs"; bad=1; }
  done
  ((bad == 0)) && say "promises: kept"
  return $bad
}

# ---- sysusers.d and tmpfiles.d ---------------------------------------------

check_sysusers_tmpfiles() {
  need_tool systemd-sysusers
  need_tool systemd-tmpfiles
  [[ $EUID -eq 0 ]] || { say "SKIP: creating files owned by edgekey in a temp root needs root"; exit 77; }
  local root=$WORK/root out bad=0 uid gid rgid members
  mkdir -p "$root/etc"
  out=$(systemd-sysusers --root="$root" "$SYSTEMD_DIR/edgekey.sysusers" 2>&1) ||
    { fail "systemd-sysusers failed:"; sed 's/^/  | /' <<<"$out"; return 1; }
  if grep -qiE 'warn|fail|ignor|invalid' <<<"$out"; then fail "systemd-sysusers complained:"; sed 's/^/  | /' <<<"$out"; bad=1; fi
  uid=$(awk -F: '$1 == "edgekey" { print $3 }' "$root/etc/passwd")
  gid=$(awk -F: '$1 == "edgekey" { print $3 }' "$root/etc/group")
  rgid=$(awk -F: '$1 == "edgekey-readers" { print $3 }' "$root/etc/group")
  members=$(awk -F: '$1 == "edgekey-readers" { print $4 }' "$root/etc/group")
  [[ -n $uid && $uid != 0 ]] || { fail "no system user edgekey"; return 1; }
  [[ -n $gid && -n $rgid ]] || { fail "groups edgekey / edgekey-readers missing"; return 1; }
  [[ $(awk -F: '$1 == "edgekey" { print $4 }' "$root/etc/passwd") == "$gid" ]] || { fail "edgekey's primary group is not edgekey"; bad=1; }
  [[ ,$members, == *,edgekey,* ]] || { fail "edgekey is not a member of edgekey-readers ($members)"; bad=1; }
  [[ $(awk -F: '$1 == "edgekey" { print $7 }' "$root/etc/passwd") == */nologin ]] || { fail "edgekey has a login shell"; bad=1; }
  # The unit's identities are the ones sysusers creates.
  [[ $(last_value "$UNIT_SRC" Group) == edgekey ]] || { fail "the unit's Group= is not edgekey"; bad=1; }

  out=$(systemd-tmpfiles --root="$root" --create "$SYSTEMD_DIR/edgekey.tmpfiles" 2>&1) ||
    { fail "systemd-tmpfiles --create failed:"; sed 's/^/  | /' <<<"$out"; return 1; }
  [[ -z $out ]] || { fail "systemd-tmpfiles printed:"; sed 's/^/  | /' <<<"$out"; bad=1; }
  expect_node() {  # path mode uid gid why
    local got
    got=$(stat -c '%a %u %g' "$root$1" 2>/dev/null) || { fail "$1 was not created"; bad=1; return; }
    [[ $got == "$2 $3 $4" ]] || { fail "$1 is '$got' (mode uid gid), expected '$2 $3 $4': $5"; bad=1; }
  }
  expect_node /etc/edgekey 2750 0 "$gid" "root writes (edgekeyctl), edgekey reads, new files get group edgekey"
  expect_node /var/lib/edgekey 750 "$uid" "$gid" "the snapshot, written by edgekeyd"
  expect_node /run/edgekey 750 "$uid" "$gid" "the socket directory"
  # The unit's directory modes agree with tmpfiles (else each undoes the other).
  [[ $(last_value "$UNIT_SRC" RuntimeDirectoryMode) == 0750 ]] || { fail "RuntimeDirectoryMode differs from tmpfiles' 0750"; bad=1; }
  [[ $(last_value "$UNIT_SRC" StateDirectoryMode) == 0750 ]] || { fail "StateDirectoryMode differs from tmpfiles' 0750"; bad=1; }

  # A fresh install has an empty keyset (edgekeyd becomes ready with it).
  expect_node /etc/edgekey/keys.yaml 640 0 "$gid" "the keyset: root writes, edgekey reads"
  [[ $(cat "$root/etc/edgekey/keys.yaml" 2>/dev/null) == 'keys: []' ]] || { fail "the initial keyset is not 'keys: []'"; bad=1; }
  # A file root creates there (as edgekeyctl does) gets the daemon's group
  # from the setgid directory; files with a wrong owner or mode are repaired
  # by the next --create (and at every boot), and a keyset is never reset.
  (umask 022 && echo 'region: x' >"$root/etc/edgekey/edgekey.yaml")
  [[ $(stat -c %g "$root/etc/edgekey/edgekey.yaml") == "$gid" ]] || { fail "a file created in /etc/edgekey does not get group edgekey"; bad=1; }
  chown 0:0 "$root/etc/edgekey/edgekey.yaml" && chmod 0600 "$root/etc/edgekey/edgekey.yaml"
  printf 'keys:\n  - id: key_kept\n' >"$root/etc/edgekey/keys.yaml"
  chown 0:0 "$root/etc/edgekey/keys.yaml" && chmod 0644 "$root/etc/edgekey/keys.yaml"
  chmod 0755 "$root/etc/edgekey"
  out=$(systemd-tmpfiles --root="$root" --create "$SYSTEMD_DIR/edgekey.tmpfiles" 2>&1) ||
    { fail "second systemd-tmpfiles --create failed:"; sed 's/^/  | /' <<<"$out"; return 1; }
  [[ -z $out ]] || { fail "second systemd-tmpfiles --create printed:"; sed 's/^/  | /' <<<"$out"; bad=1; }
  expect_node /etc/edgekey 2750 0 "$gid" "repaired on the next run"
  expect_node /etc/edgekey/keys.yaml 640 0 "$gid" "the keyset: root writes, edgekey reads"
  expect_node /etc/edgekey/edgekey.yaml 640 0 "$gid" "the config: root writes, edgekey reads"
  grep -q key_kept "$root/etc/edgekey/keys.yaml" || { fail "systemd-tmpfiles reset an existing keyset"; bad=1; }
  # Nothing outside edgekey's own paths.
  local p
  while read -r p; do
    case $p in
      /etc/edgekey | /etc/edgekey/* | /var/lib/edgekey | /run/edgekey) ;;
      *) fail "edgekey.tmpfiles touches $p"; bad=1 ;;
    esac
  done < <(awk '!/^[[:space:]]*(#|$)/ { print $2 }' "$SYSTEMD_DIR/edgekey.tmpfiles")
  ((bad == 0)) && say "sysusers/tmpfiles: users, groups, modes and owners as intended (uid $uid, gid $gid, readers $rgid)"
  return $bad
}

# ---- the daemon under the unit's sandbox rules -----------------------------

can_trace() { command -v strace >/dev/null 2>&1 && strace -f -qq -o /dev/null true 2>/dev/null; }

check_sandbox() {
  local unit=$1
  can_trace || { say "SKIP: no strace, or it cannot trace here (ptrace not permitted)"; exit 77; }
  [[ -x $NOTIFY_DRIVER ]] || { fail "no notify driver at '$NOTIFY_DRIVER'"; return 1; }
  local T
  T=$(mktemp -d "$WORK/sandbox.XXXXXX") || return 1
  mkdir -p "$T"/{etc,state,run,trace}
  chmod 0755 "$WORK" "$T"

  # Who the daemon runs as: as root, an unprivileged user (nobody) with an
  # empty capability bounding set and no_new_privs (User=, NoNewPrivileges=,
  # CapabilityBoundingSet=); otherwise the calling (unprivileged) user.
  # Its table.readers_group is, as under the unit, a supplementary group
  # (as root: users, standing for edgekey-readers) when there is one.
  local -a run_as=()
  local duid dgid rgid
  if [[ $EUID -eq 0 ]]; then
    need_tool setpriv
    duid=$(id -u nobody) || { say "SKIP: no user nobody"; exit 77; }
    dgid=$(id -g nobody)
    rgid=$(getent group users | cut -d: -f3)
    [[ -n $rgid && $rgid != "$dgid" ]] || rgid=$dgid
    run_as=(setpriv --reuid="$duid" --regid="$dgid" --groups="$rgid" --inh-caps=-all --bounding-set=-all --no-new-privs --)
    chown "$duid:$dgid" "$T/state" "$T/run"
    chown "0:$dgid" "$T/etc"
  else
    duid=$(id -u); dgid=$(id -g)
    rgid=$(id -G | tr ' ' '\n' | grep -vx "$dgid" | head -n1)
    [[ -n $rgid ]] || rgid=$dgid
  fi
  local group
  group=$(getent group "$rgid" | cut -d: -f1)
  [[ -n $group ]] || { say "SKIP: gid $rgid has no name for table.readers_group"; exit 77; }
  # Like /etc/edgekey: root's, readable by the daemon's group only.
  chmod 0750 "$T/etc"
  chmod 0750 "$T/state" "$T/run"

  local SHM_TABLE=edgekey-sdtest-$$-${T##*.}
  SHM_TABLES+=("$SHM_TABLE")
  local token=sdtest-legacy-token-$$-abcdefghijklmnop hash
  hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
  cat >"$T/etc/edgekey.yaml" <<EOF
region: in-test
legacy_tokens: true
table:
  name: $SHM_TABLE
  capacity: 64
  readers_group: $group
  mode: "0640"
socket:
  path: $T/run/edgekeyd.sock
  mode: "0660"
upstream:
  file: $T/etc/keys.yaml
snapshot: $T/state/snapshot
EOF
  keyset() {  # status
    cat <<EOF
keys:
  - id: key_sdtest0001
    hash: sha256:$hash
    workspace: ws_test
    name: systemd sandbox test
    type: secret
    env: live
    role: developer
    created_at: 2025-01-01T00:00:00Z
    expires_at: null
    status: $1
EOF
    [[ $1 == revoked ]] && echo "    revoked_at: 2025-01-02T00:00:00Z"
  }
  keyset active >"$T/etc/keys.yaml"
  keyset revoked >"$T/etc/keys.next"
  chgrp "$dgid" "$T/etc"/* 2>/dev/null
  chmod 0640 "$T/etc"/*

  local rc
  (
    umask "$(last_value "$unit" UMask)"
    [[ -z $DAEMON_LIBRARY_PATH ]] || export LD_LIBRARY_PATH=$DAEMON_LIBRARY_PATH
    cd / && exec strace -f -ff -qq -y -s 256 -o "$T/trace/t" -- \
      "$NOTIFY_DRIVER" --notify "$T/notify.sock" --socket "$T/run/edgekeyd.sock" \
      --get /healthz 200 --get /v1/validate 200 "Bearer $token" \
      --swap "$T/etc/keys.next" "$T/etc/keys.yaml" \
      --then-get /v1/validate 401 "Bearer $token" --then-get /metrics 200 \
      -- "${run_as[@]}" "$EDGEKEYD" --config "$T/etc/edgekey.yaml"
  ) >"$T/driver.log" 2>&1
  rc=$?
  keep_log "$T/driver.log" edgekeyd-driver  # edgekeyd's stderr and the driver's
  if [[ $rc -ne 0 ]]; then
    fail "the daemon's life cycle under the driver failed (status $rc):"
    sed 's/^/  | /' "$T/driver.log"
    return 1
  fi

  # The daemon's system calls: from the exec of edgekeyd on in its process,
  # and everything in its threads (trace files without an execve).
  local f daemon_trace=$T/daemon.trace found=0
  : >"$daemon_trace"
  for f in "$T"/trace/t.*; do
    if grep -q "^execve(\"$EDGEKEYD\".* = 0\$" "$f"; then
      awk -v bin="$EDGEKEYD" 'on { print; next } index($0, "execve(\"" bin "\"") == 1 && / = 0$/ { on = 1; print }' "$f" >>"$daemon_trace"
      found=1
    elif ! grep -q '^execve(' "$f"; then
      cat "$f" >>"$daemon_trace"
    fi
  done
  ((found)) || { fail "no successful execve of $EDGEKEYD in the trace"; return 1; }

  local bad=0 allowed used v
  allowed=$(allowed_syscalls "$unit") || return 1
  used=$(grep -oE '^[a-z_0-9]+\(' "$daemon_trace" | tr -d '(' | sort -u)
  local denied
  denied=$(comm -23 <(sort -u <<<"$used") <(sort -u <<<"$allowed"))
  if [[ -n $denied ]]; then
    fail "edgekeyd made system calls its SystemCallFilter= denies: $(echo $denied)"
    for v in $denied; do grep -m2 "^$v(" "$daemon_trace" | sed 's/^/  | /'; done
    bad=1
  fi
  if grep -q 'runs in 32 bit mode\|runs in x32 mode' "$daemon_trace"; then fail "a non-native ABI was used (SystemCallArchitectures=native)"; bad=1; fi

  # RestrictAddressFamilies=
  local families fam
  families=$(all_values "$unit" RestrictAddressFamilies | tr ' ' '\n' | sort -u)
  while read -r fam; do
    [[ -z $fam ]] && continue
    grep -qx "$fam" <<<"$families" || { fail "edgekeyd opened an $fam socket; RestrictAddressFamilies= allows only $(echo $families)"; bad=1; }
  done < <(grep -oE '^socket(pair)?\((AF|PF)_[A-Z0-9]+' "$daemon_trace" | sed 's/.*(PF_/AF_/; s/.*(//' | sort -u)

  # MemoryDenyWriteExecute=, LockPersonality=, RestrictNamespaces=, RestrictSUIDSGID=
  if is_true "$(last_value "$unit" MemoryDenyWriteExecute)"; then
    v=$(grep -E '^(mmap|mmap2)\(.*PROT_WRITE\|PROT_EXEC|^(mmap|mmap2)\(.*PROT_EXEC\|PROT_WRITE|^(mprotect|pkey_mprotect)\(.*PROT_EXEC' "$daemon_trace")
    [[ -z $v ]] || { fail "writable+executable memory (MemoryDenyWriteExecute=yes):"; sed 's/^/  | /' <<<"$v" | head -5; bad=1; }
  fi
  v=$(grep -E '^personality\(' "$daemon_trace" | grep -vE '^personality\((PER_LINUX|0xffffffff)\)')
  [[ -z $v ]] || { fail "personality change (LockPersonality=yes): $v"; bad=1; }
  v=$(grep -E '^(unshare|setns)\(|^clone3?\(.*CLONE_NEW' "$daemon_trace")
  [[ -z $v ]] || { fail "namespace creation (RestrictNamespaces=yes):"; sed 's/^/  | /' <<<"$v" | head -5; bad=1; }
  v=$(grep -E '^(chmod|fchmod|fchmodat|mkdir|mkdirat|open|openat|creat|mknod|mknodat)\(.*(, 0?[2-7][0-7]{3}\)|S_IS[UG]ID)' "$daemon_trace")
  [[ -z $v ]] || { fail "set-user/group-ID bits (RestrictSUIDSGID=yes):"; sed 's/^/  | /' <<<"$v" | head -5; bad=1; }

  # Paths: writes only where ProtectSystem=strict + the unit's directories
  # allow them (the test's state/run stand for /var/lib/edgekey and
  # /run/edgekey; its etc for /etc/edgekey, read-only); no /proc beyond the
  # process's own (ProcSubset=pid), no home (ProtectHome=), no device but the
  # pseudo devices (DevicePolicy=closed). $PREFIX stands for /usr.
  local paths=$T/paths
  local pathcalls='^(open|openat|openat2|creat|access|faccessat|faccessat2|stat|lstat|newfstatat|statx|readlink|readlinkat|execve|execveat|chdir|mkdir|mkdirat|unlink|unlinkat|rmdir|rename|renameat|renameat2|chmod|fchmodat|chown|lchown|fchownat|truncate|mknod|mknodat|utimensat|link|linkat|symlink|symlinkat|setxattr|lsetxattr|removexattr|getxattr|lgetxattr|inotify_add_watch|bind|connect|statfs|uselib|swapon|mount|umount2)$'
  awk -v q='"' -v PATHCALLS="$pathcalls" '
    function emit(kind, p, ok) { print kind "\t" p "\t" ok }
    {
      name = $0; sub(/\(.*/, "", name)
      if (name !~ PATHCALLS) next
      ok = ($0 ~ / = [0-9]/) ? "ok" : "err"
      # the first quoted argument, made absolute with a -y dirfd annotation
      line = $0; dir = ""
      if (match(line, /^[a-z0-9_]+\([0-9]+<[^>]*>, "/)) { d = substr(line, RSTART, RLENGTH); sub(/^[^<]*</, "", d); sub(/>, "$/, "", d); dir = d "/" }
      n = split(line, parts, q)
      p1 = (n >= 3) ? parts[2] : ""; p2 = (n >= 5) ? parts[4] : ""
      if (p1 != "" && substr(p1, 1, 1) != "/") p1 = dir p1
      write = 0
      if (name ~ /^(open|openat|openat2|creat)$/ && ($0 ~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/ || name == "creat")) write = 1
      if (name ~ /^(mkdir|mkdirat|unlink|unlinkat|rmdir|chmod|fchmodat|chown|lchown|fchownat|truncate|mknod|mknodat|utimensat|link|linkat|symlink|symlinkat|setxattr|lsetxattr|removexattr)$/) write = 1
      if (name ~ /^(rename|renameat|renameat2)$/) { write = 1; if (p2 != "") emit("write", (substr(p2, 1, 1) == "/" ? p2 : dir p2), ok) }
      if (name == "bind" || name == "connect") {
        if (match($0, /sun_path="[^"]*"/)) emit(name == "bind" ? "write" : "read", substr($0, RSTART + 10, RLENGTH - 11), ok)
        next
      }
      if (p1 == "") next
      emit(write ? "write" : "read", p1, ok)
    }' "$daemon_trace" | sort -u >"$paths"
  local kind p ok
  while IFS=$'\t' read -r kind p ok; do
    case $p in /*) ;; *) [[ $kind == write ]] && { fail "write to a relative path $p"; bad=1; }; continue ;; esac
    if [[ $kind == write ]]; then
      case $p in
        "$T/state"/* | "$T/run"/* | /dev/shm/* | /dev/null) ;;
        "$T"/*) fail "write to $p, read-only under the unit (ProtectSystem=strict, /etc/edgekey)"; bad=1 ;;
        "$PREFIX"/*) fail "write to $p, in the prefix standing for /usr (ProtectSystem=strict)"; bad=1 ;;
        /tmp/* | /var/tmp/*) ;;  # PrivateTmp=
        *) fail "write to $p, read-only under ProtectSystem=strict"; bad=1 ;;
      esac
    fi
    [[ $ok == ok ]] || continue
    case $p in
      /proc/self | /proc/self/* | /proc/thread-self | /proc/thread-self/* | /proc/[0-9]* ) ;;
      /proc | /proc/*) fail "reads $p, hidden by ProcSubset=pid"; bad=1 ;;
      /home | /home/* | /root | /root/* | /run/user | /run/user/*) fail "reads $p, hidden by ProtectHome=yes"; bad=1 ;;
      /dev/null | /dev/zero | /dev/full | /dev/random | /dev/urandom | /dev/tty | /dev/ptmx | /dev/pts/* | /dev/shm | /dev/shm/* | /dev/log | /dev/rtc*) ;;
      /dev/*) fail "opens $p, not a pseudo device (DevicePolicy=closed, PrivateDevices would hide /dev/shm too)"; bad=1 ;;
    esac
  done <"$paths"

  # The table stays for the workers, with the group and mode they rely on.
  local seg segs=0
  for seg in "/dev/shm/$SHM_TABLE" /dev/shm/"$SHM_TABLE".g*; do
    [[ -e $seg ]] || { fail "$seg is gone after the stop: the workers' table must outlive edgekeyd"; bad=1; continue; }
    segs=$((segs + 1))
    v=$(stat -c '%a %u %g' "$seg")
    [[ $v == "640 $duid $rgid" ]] || { fail "$seg is '$v' (mode uid gid), expected '640 $duid $rgid' (readers_group $group)"; bad=1; }
  done
  v=$(stat -c '%a' "$T/state/snapshot" 2>/dev/null) || { fail "no snapshot written to the state directory"; bad=1; }
  [[ -z $v || $v == 640 ]] || { fail "the snapshot has mode $v, expected 640"; bad=1; }

  ((bad == 0)) && say "sandbox: $(wc -l <<<"$used") distinct system calls, all allowed; writes only to the state and runtime directories and /dev/shm; $segs segments left 0640 group $group"
  return $bad
}

# ---- self-test: the checks fail on broken units ------------------------------

check_selftest() {
  local bad=0 n=0
  broken() {  # name, then a sed script applied to the unit; the check must fail
    local name=$1 check=$2 script=$3
    local dir=$WORK/broken/$name
    n=$((n + 1))
    installable_copy "$UNIT_SRC" "$dir" || { bad=1; return; }
    sed -i -e "$script" "$dir/$UNIT_NAME"
    if cmp -s <(sed "s#/usr/sbin/edgekeyd#$EDGEKEYD#g" "$UNIT_SRC") "$dir/$UNIT_NAME"; then
      fail "selftest $name: the edit changed nothing"; bad=1; return
    fi
    if "$check" "$dir/$UNIT_NAME" >"$dir/out" 2>&1; then
      fail "selftest $name: $check passed on a broken unit"; sed 's/^/  | /' "$dir/out"; bad=1
    else
      say "selftest $name: $check fails as it should"
    fi
  }
  broken unknown-key check_verify '/^\[Service\]/a Frobnicate=yes'
  broken bad-value check_verify 's/^WatchdogSec=.*/WatchdogSec=soon/'
  broken missing-binary check_verify "s#^ExecStart=[^ ]*#ExecStart=$WORK/no-such-edgekeyd#"
  broken no-protect-system check_security '/^ProtectSystem=/d'
  broken no-syscall-filter check_security '/^SystemCallFilter=/d'
  broken private-devices check_promises 's/^PrivateDevices=no/PrivateDevices=yes/'
  broken dynamic-user check_promises 's/^DynamicUser=no/DynamicUser=true/'
  broken remove-ipc check_promises 's/^RemoveIPC=no/RemoveIPC=yes/'
  broken remove-ipc-unset check_promises '/^RemoveIPC=/d'
  broken not-preserved check_promises 's/^RuntimeDirectoryPreserve=yes/RuntimeDirectoryPreserve=no/'
  broken shm-hidden check_promises '/^\[Service\]/a InaccessiblePaths=-/dev/shm'
  broken no-fchown check_promises '/^SystemCallFilter=fchown$/d'
  if can_trace && [[ -x $NOTIFY_DRIVER ]]; then
    broken no-fchown-run check_sandbox '/^SystemCallFilter=fchown$/d'
    broken no-af-unix-run check_sandbox 's/^RestrictAddressFamilies=.*/RestrictAddressFamilies=AF_INET AF_INET6/'
    broken no-flock-run check_sandbox '/^SystemCallFilter=fchown$/a SystemCallFilter=~flock'
  else
    say "selftest: no strace or notify driver, the sandbox check's own failures are not exercised"
  fi
  ((bad == 0)) && say "selftest: all $n broken units caught"
  return $bad
}

# ---- main --------------------------------------------------------------------

case $CHECK in
  verify | security)
    installable_copy "$UNIT_SRC" "$WORK/unit" || exit 1
    "check_$CHECK" "$WORK/unit/$UNIT_NAME" ;;
  promises) check_promises "$UNIT_SRC" ;;
  sysusers-tmpfiles) check_sysusers_tmpfiles ;;
  sandbox)
    installable_copy "$UNIT_SRC" "$WORK/unit" || exit 1
    check_sandbox "$WORK/unit/$UNIT_NAME" ;;
  selftest) check_selftest ;;
  *) fail "unknown check $CHECK"; exit 1 ;;
esac
exit $?
