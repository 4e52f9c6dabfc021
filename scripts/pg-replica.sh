#!/usr/bin/env bash
# A throw-away PostgreSQL 15 primary with one streaming replica (hot standby)
# for the replica tests (internal/testdb.PostgresReplica). Run as root: the
# servers run as the postgres user (runuser); running as postgres works too.
#
#   usage: scripts/pg-replica.sh start|stop|pause|resume|stop-replica|start-replica|freeze|freeze-all|thaw|status
#
#   start          create (initdb + pg_basebackup) and start both servers, then
#                  wait until the replica streams; already running -> no-op.
#                  A server left frozen (SIGSTOP, by freeze or a killed test)
#                  is thawed first
#   stop           stop both servers and remove the directory
#   pause/resume   pg_wal_replay_pause() / pg_wal_replay_resume() on the replica
#   stop-replica   stop only the replica (pg_ctl -m fast), for failover tests
#   start-replica  start the replica again and wait until it streams
#   freeze         SIGSTOP the replica's postmaster only, as a hung host may
#                  leave it: sessions it has keep answering, it accepts no
#                  new one (nor restarts anything)
#   freeze-all     SIGSTOP the replica's postmaster and all its children
#                  (backends, startup process, WAL receiver, ...; each child
#                  is in a process group of its own): nothing answers
#   thaw           SIGCONT the replica's postmaster and its children
#   status         print whether each server is up and the replica's lag;
#                  exit 0 when both are up and streaming, 1 otherwise
#
# Environment (defaults in brackets):
#   GRANT_PG_REPLICA_DIR           work directory [/tmp/grant-pg-replica]
#   GRANT_PG_REPLICA_PRIMARY_PORT  primary port on 127.0.0.1 [55432]
#   GRANT_PG_REPLICA_PORT          replica port on 127.0.0.1 [55433]
#   GRANT_PG_REPLICA_TIMEOUT       seconds to wait for each step [60]
#   GRANT_PG_BIN                   PostgreSQL binaries [/usr/lib/postgresql/15/bin]
#
# Environment for callers that hold the lock (below) themselves:
#   GRANT_PG_REPLICA_LOCK_FD       a file descriptor open on the lock file,
#                                  on which the caller holds the lock: the
#                                  script uses it instead of waiting for the
#                                  lock (testdb's ReplicaSet.Freeze holds the
#                                  lock from freeze to thaw, so that no
#                                  concurrent start thaws the replica
#                                  under a test)
#
# Both servers trust every local connection (user postgres, no password).
# The primary runs fsync=off but synchronous_commit=on, so a commit has been
# handed to the WAL senders when it returns; the replica is asynchronous (no
# synchronous_standby_names) and uses a physical replication slot, so a
# stopped replica catches up when started again.
set -euo pipefail

DIR=${GRANT_PG_REPLICA_DIR:-/tmp/grant-pg-replica}
PRIMARY_PORT=${GRANT_PG_REPLICA_PRIMARY_PORT:-55432}
REPLICA_PORT=${GRANT_PG_REPLICA_PORT:-55433}
TIMEOUT=${GRANT_PG_REPLICA_TIMEOUT:-60}
BIN=${GRANT_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=postgres
SLOT=grant_replica

PRIMARY_DATA=$DIR/primary
REPLICA_DATA=$DIR/replica
PRIMARY_LOG=$DIR/primary.log
REPLICA_LOG=$DIR/replica.log
READY=$DIR/ready # written once both servers were set up completely
# The lock lives outside $DIR, which stop removes.
LOCK=${DIR%/}.lock

. "$(dirname "$0")/lib.sh"

# Paths must not depend on the caller's directory, which the postgres user
# may not be allowed to enter.
case $DIR in /*) ;; *) die "GRANT_PG_REPLICA_DIR must be an absolute path, got '$DIR'" ;; esac
cd /

[ -x "$BIN/pg_ctl" ] || die "no PostgreSQL binaries in $BIN (set GRANT_PG_BIN)"


# sql PORT QUERY: run QUERY on database postgres, print unaligned tuples.
sql() {
  as_pg env PGCONNECT_TIMEOUT=5 "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"
}

# Both servers are ours when their data directories exist; pg_ctl status
# looks at the postmaster.pid in the data directory.
running() { [ -f "$1/PG_VERSION" ] && as_pg "$BIN/pg_ctl" status -D "$1" >/dev/null 2>&1; }
answers() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 2 9<&-; }

tail_log() {
  if [ -f "$1" ]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 30 "$1" >&2 || true
    echo "----" >&2
  fi
}

# fail MSG: die, pointing at both logs.
fail() {
  tail_log "$PRIMARY_LOG"
  tail_log "$REPLICA_LOG"
  die "$* (logs: $PRIMARY_LOG, $REPLICA_LOG)"
}

# wait_until DESCRIPTION COMMAND...: retry COMMAND every 0.1s for $TIMEOUT s.
wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "timed out after ${TIMEOUT}s waiting for $what"
    fi
    sleep 0.1
  done
}

port_free() {
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null 9<&-; then
    die "port $1 on 127.0.0.1 is already used by another server (not one in $DIR); set $2"
  fi
}

start_server() { # DATA LOG PORT NAME
  if running "$1"; then return 0; fi
  port_free "$3" "$([ "$4" = primary ] && echo GRANT_PG_REPLICA_PRIMARY_PORT || echo GRANT_PG_REPLICA_PORT)"
  if ! as_pg "$BIN/pg_ctl" start -w -t "$TIMEOUT" -D "$1" -l "$2" >/dev/null; then
    fail "could not start the $4 on port $3"
  fi
}

stop_server() { # DATA NAME
  if ! running "$1"; then return 0; fi
  if ! as_pg "$BIN/pg_ctl" stop -w -t "$TIMEOUT" -m fast -D "$1" >/dev/null; then
    log "the $2 did not stop in ${TIMEOUT}s with -m fast; using -m immediate"
    as_pg "$BIN/pg_ctl" stop -w -t "$TIMEOUT" -m immediate -D "$1" >/dev/null || fail "could not stop the $2"
  fi
}

is_streaming() {
  [ "$(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery()")" = t ] &&
    [ "$(sql "$PRIMARY_PORT" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge 1 ]
}

wait_streaming() {
  wait_until "the replica on port $REPLICA_PORT to stream from the primary on port $PRIMARY_PORT" is_streaming
}

create() {
  if [ -e "$DIR" ]; then
    log "removing the incomplete setup in $DIR"
    destroy
  fi
  mkdir -p "$DIR"
  chown "$PG_USER": "$DIR"
  chmod 700 "$DIR"

  as_pg "$BIN/initdb" -D "$PRIMARY_DATA" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$DIR/initdb.log" 2>&1 || {
    tail_log "$DIR/initdb.log"
    die "initdb failed (log: $DIR/initdb.log)"
  }
  as_pg tee -a "$PRIMARY_DATA/postgresql.conf" >/dev/null <<EOF

# ---- scripts/pg-replica.sh ----
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$DIR'
cluster_name = 'grant_primary'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 64MB
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
fsync = off
synchronous_commit = on
shared_buffers = 16MB
max_connections = 100
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  start_server "$PRIMARY_DATA" "$PRIMARY_LOG" "$PRIMARY_PORT" primary

  # -C -S: a permanent slot keeps the WAL a stopped replica still needs.
  as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$REPLICA_DATA" \
    -R -X stream -c fast -C -S "$SLOT" --no-sync >"$DIR/basebackup.log" 2>&1 || {
    tail_log "$DIR/basebackup.log"
    fail "pg_basebackup failed (log: $DIR/basebackup.log)"
  }
  # Later settings win: the copy of the primary's file gets the replica's.
  as_pg tee -a "$REPLICA_DATA/postgresql.conf" >/dev/null <<EOF
port = $REPLICA_PORT
cluster_name = 'grant_replica'
EOF
  start_server "$REPLICA_DATA" "$REPLICA_LOG" "$REPLICA_PORT" replica
  wait_streaming
  touch "$READY"
}

destroy() {
  for d in "$REPLICA_DATA" "$PRIMARY_DATA"; do
    if running "$d"; then
      as_pg "$BIN/pg_ctl" stop -w -t "$TIMEOUT" -m immediate -D "$d" >/dev/null || die "could not stop the server in $d"
    fi
  done
  rm -rf "$DIR"
}

# postmaster_pid DATA: the postmaster's PID from its postmaster.pid, if the
# process exists.
postmaster_pid() {
  local pid
  [ -f "$1/postmaster.pid" ] || return 1
  pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || return 1
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# server_pids PID: the postmaster PID and its children (backends, startup
# process, WAL receiver, checkpointer, ...). PostgreSQL puts every child in
# a session (and process group) of its own, so the server is found by
# parent PID, not by process group.
server_pids() {
  echo "$1"
  pgrep -P "$1" || true
}

# stopped_in PID: whether the postmaster or a child is stopped (state T).
stopped_in() {
  local p
  for p in $(server_pids "$1"); do
    ps -o stat= -p "$p" 2>/dev/null | grep -q '^T' && return 0
  done
  return 1
}

# signal_server SIGNAL PID: SIGNAL to the postmaster first, then to its
# children, listed once it is signalled: a postmaster being stopped forks
# no new backend after the list is taken (one listed before would miss
# backends forked meanwhile, for clients still connecting).
signal_server() {
  local p
  kill "-$1" "$2" 2>/dev/null || true
  for p in $(pgrep -P "$2" || true); do
    kill "-$1" "$p" 2>/dev/null || true
  done
}

# thaw_server DATA NAME: SIGCONT the server's processes if any is stopped.
thaw_server() {
  local pid
  pid=$(postmaster_pid "$1") || return 0
  if stopped_in "$pid"; then
    signal_server CONT "$pid"
    log "the $2 (PID $pid) was frozen (SIGSTOP); thawed it"
  fi
}

cmd_start() {
  local t0=$SECONDS
  if [ -f "$READY" ]; then
    # A test killed while the replica was frozen leaves it stopped: every
    # later test would hang on it.
    thaw_server "$PRIMARY_DATA" primary
    thaw_server "$REPLICA_DATA" replica
  fi
  if [ -f "$READY" ] && running "$PRIMARY_DATA" && running "$REPLICA_DATA" && is_streaming >/dev/null 2>&1; then
    log "already running: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT"
    return 0
  fi
  if [ -f "$READY" ]; then
    start_server "$PRIMARY_DATA" "$PRIMARY_LOG" "$PRIMARY_PORT" primary
    start_server "$REPLICA_DATA" "$REPLICA_LOG" "$REPLICA_PORT" replica
    wait_streaming
  else
    create
  fi
  log "running: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT (streaming; $((SECONDS - t0))s; dir $DIR)"
}

cmd_stop() {
  if [ -e "$DIR" ]; then
    for d in "$REPLICA_DATA:replica" "$PRIMARY_DATA:primary"; do
      stop_server "${d%:*}" "${d##*:}"
    done
    rm -rf "$DIR"
  fi
  log "stopped; $DIR removed"
}

need_ready() {
  [ -f "$READY" ] || die "not set up in $DIR; run: $0 start"
}

need_replica_up() {
  need_ready
  running "$REPLICA_DATA" || die "the replica (port $REPLICA_PORT) is not running; run: $0 start-replica"
}

cmd_pause() {
  need_replica_up
  sql "$REPLICA_PORT" "SELECT pg_wal_replay_pause()" >/dev/null || fail "pg_wal_replay_pause() failed"
  log "replay paused on the replica ($(sql "$REPLICA_PORT" "SELECT pg_get_wal_replay_pause_state()"))"
}

cmd_resume() {
  need_replica_up
  sql "$REPLICA_PORT" "SELECT pg_wal_replay_resume()" >/dev/null || fail "pg_wal_replay_resume() failed"
  log "replay resumed on the replica"
}

cmd_stop_replica() {
  need_ready
  stop_server "$REPLICA_DATA" replica
  log "replica stopped (port $REPLICA_PORT)"
}

cmd_start_replica() {
  need_ready
  running "$PRIMARY_DATA" || die "the primary (port $PRIMARY_PORT) is not running; run: $0 start"
  start_server "$REPLICA_DATA" "$REPLICA_LOG" "$REPLICA_PORT" replica
  wait_streaming
  log "replica running and streaming (port $REPLICA_PORT)"
}

cmd_freeze() { # postmaster|all
  need_replica_up
  local pid
  pid=$(postmaster_pid "$REPLICA_DATA") || die "no replica postmaster found in $REPLICA_DATA/postmaster.pid"
  if [ "$1" = all ]; then
    signal_server STOP "$pid"
    log "replica frozen: SIGSTOP to its postmaster (PID $pid) and its $(($(server_pids "$pid" | wc -l) - 1)) children; thaw with: $me thaw"
  else
    kill -STOP "$pid"
    log "replica postmaster frozen: SIGSTOP to PID $pid only (its sessions still answer; no new one is accepted); thaw with: $me thaw"
  fi
}

cmd_thaw() {
  need_ready
  local pid
  pid=$(postmaster_pid "$REPLICA_DATA") || die "no replica postmaster found in $REPLICA_DATA/postmaster.pid"
  signal_server CONT "$pid"
  log "replica thawed: SIGCONT to its postmaster (PID $pid) and its children"
}

cmd_status() {
  local ok=0 p=down r=down
  if running "$PRIMARY_DATA" && answers "$PRIMARY_PORT"; then p=up; else ok=1; fi
  local rpid
  if rpid=$(postmaster_pid "$REPLICA_DATA") && stopped_in "$rpid"; then
    r=frozen # SIGSTOP: thaw with "$me thaw" (start thaws it too)
    ok=1
  elif running "$REPLICA_DATA" && answers "$REPLICA_PORT"; then r=up; else ok=1; fi
  echo "dir:     $DIR$([ -f "$READY" ] || echo ' (not set up)')"
  echo "primary: $p (127.0.0.1:$PRIMARY_PORT, log $PRIMARY_LOG)"
  echo "replica: $r (127.0.0.1:$REPLICA_PORT, log $REPLICA_LOG)"
  if [ $p = up ]; then
    local rep
    rep=$(sql "$PRIMARY_PORT" "SELECT application_name || ': ' || state || ', sent ' || sent_lsn || ', replayed ' || coalesce(replay_lsn::text, '-') || ', replay lag ' || coalesce(replay_lag::text, '0') FROM pg_stat_replication" 2>/dev/null || true)
    echo "pg_stat_replication on the primary: ${rep:-(no replica connected)}"
    [ -n "$rep" ] || ok=1
  fi
  if [ $p = up ] && [ $r = up ]; then
    local lsn lag
    lsn=$(sql "$PRIMARY_PORT" "SELECT pg_current_wal_lsn()" 2>/dev/null || true)
    lag=$(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery() || ', replay ' || pg_get_wal_replay_pause_state() || ', replayed ' || coalesce(pg_last_wal_replay_lsn()::text, '-') || ', lag ' || coalesce(pg_wal_lsn_diff('$lsn', pg_last_wal_replay_lsn())::bigint::text, '?') || ' bytes, last replayed commit ' || coalesce((now() - pg_last_xact_replay_timestamp())::text || ' ago', 'none')" 2>/dev/null || true)
    echo "replica in recovery: ${lag:-?}"
  fi
  return $ok
}

USAGE="start|stop|pause|resume|stop-replica|start-replica|freeze|freeze-all|thaw|status"
[ $# = 1 ] || die "usage: $me $USAGE"

# One invocation at a time (a test binary and a developer may race).
# Opened read-only: fs.protected_regular forbids O_CREAT on another user's
# file in /tmp, even for root. A caller that holds the lock passes its
# descriptor (GRANT_PG_REPLICA_LOCK_FD): flock on the same open file
# succeeds at once, and the lock stays the caller's when we exit.
if [ -n "${GRANT_PG_REPLICA_LOCK_FD:-}" ]; then
  case $GRANT_PG_REPLICA_LOCK_FD in *[!0-9]* | '') die "GRANT_PG_REPLICA_LOCK_FD must be a file descriptor number" ;; esac
  exec 9<&"$GRANT_PG_REPLICA_LOCK_FD" || die "GRANT_PG_REPLICA_LOCK_FD=$GRANT_PG_REPLICA_LOCK_FD is not open"
  eval "exec $GRANT_PG_REPLICA_LOCK_FD<&-"
else
  [ -e "$LOCK" ] || : >"$LOCK"
  exec 9<"$LOCK"
fi
flock -w "$((TIMEOUT * 3))" 9 || die "another $me holds $LOCK"

case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
pause) cmd_pause ;;
resume) cmd_resume ;;
stop-replica) cmd_stop_replica ;;
start-replica) cmd_start_replica ;;
freeze) cmd_freeze postmaster ;;
freeze-all) cmd_freeze all ;;
thaw) cmd_thaw ;;
status) cmd_status ;;
*) die "unknown command '$1'; usage: $me $USAGE" ;;
esac
