# Shared by the project's server scripts, which source it:
#   . "$(dirname "$0")/lib.sh"
# me, die and log name the script; as_pg runs a command as $PG_USER;
# lock_once makes invocations of the script take turns on $LOCK.

me=$(basename "$0")
die() {
  echo "$me: $*" >&2
  exit 1
}
log() { echo "$me: $*"; }

# as_pg COMMAND...: run COMMAND as the postgres user ($PG_USER), without the
# lock's file descriptor (a server or pooler started from here would hold
# the lock forever).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_USER" -- "$@" 9<&-
  elif [ "$(id -un)" = "$PG_USER" ]; then
    "$@" 9<&-
  else
    die "run as root (or as $PG_USER); running as $(id -un)"
  fi
}

# lock_once SECONDS: one invocation at a time, waiting up to SECONDS for the
# lock on $LOCK (descriptor 9, held until the script exits). Opened read
# only: fs.protected_regular forbids O_CREAT on another user's file in
# /tmp, even for root.
lock_once() {
  [ -e "$LOCK" ] || : >"$LOCK"
  exec 9<"$LOCK"
  flock -w "$1" 9 || die "another $me holds $LOCK"
}
