#!/usr/bin/env bash
# PgBouncer in transaction pooling mode in front of the test servers, for the
# PgBouncer pass of the tests (GRANT_PGBOUNCER, see DEVELOPERS.md and
# docs/pgbouncer.md). Run as root: pgbouncer runs as the postgres user
# (runuser); running as postgres works too. Installs Debian's pgbouncer
# package when it is missing.
#
#   usage: scripts/pgbouncer.sh start|stop|status
#
#   start   write the configuration and start three pgbouncer processes, then
#           wait until each accepts connections; already running -> no-op
#           (a running one whose configuration changed is reloaded)
#   stop    stop them and remove the directory
#   status  print whether each answers and its pools; exit 0 when all three
#           answer, 1 otherwise
#
# The three instances (one listen port each; a pgbouncer process has one):
#
#   main             127.0.0.1:6432 -> 127.0.0.1:5432   (the main server)
#   replica-primary  127.0.0.1:6433 -> 127.0.0.1:55432  (scripts/pg-replica.sh's primary)
#   replica          127.0.0.1:6434 -> 127.0.0.1:55433  (scripts/pg-replica.sh's replica)
#
# Each maps every database name to the same name on its server ("* = ..."),
# so databases the tests create on the fly are reachable. pool_mode is
# transaction, auth_type trust (user postgres, as the servers trust it), and
# the admin console (database "pgbouncer") is open to postgres. A server that
# is not running is fine: pgbouncer connects to it when a client needs it.
#
# Environment (defaults in brackets):
#   GRANT_PGBOUNCER_DIR                   work directory [/tmp/grant-pgbouncer]
#   GRANT_PGBOUNCER_PORT                  main listener [6432]
#   GRANT_PGBOUNCER_REPLICA_PRIMARY_PORT  replica-set primary listener [6433]
#   GRANT_PGBOUNCER_REPLICA_PORT          replica-set replica listener [6434]
#   GRANT_PGBOUNCER_SERVER_PORT           main server's port [5432]
#   GRANT_PG_REPLICA_PRIMARY_PORT         replica-set primary's port [55432]
#   GRANT_PG_REPLICA_PORT                 replica-set replica's port [55433]
#   GRANT_PGBOUNCER_POOL_MODE             pool_mode [transaction]
#   GRANT_PGBOUNCER_TIMEOUT               seconds to wait for each step [30]
set -euo pipefail

DIR=${GRANT_PGBOUNCER_DIR:-/tmp/grant-pgbouncer}
MAIN_PORT=${GRANT_PGBOUNCER_PORT:-6432}
RP_PORT=${GRANT_PGBOUNCER_REPLICA_PRIMARY_PORT:-6433}
RR_PORT=${GRANT_PGBOUNCER_REPLICA_PORT:-6434}
SERVER_PORT=${GRANT_PGBOUNCER_SERVER_PORT:-5432}
PG_PRIMARY_PORT=${GRANT_PG_REPLICA_PRIMARY_PORT:-55432}
PG_REPLICA_PORT=${GRANT_PG_REPLICA_PORT:-55433}
POOL_MODE=${GRANT_PGBOUNCER_POOL_MODE:-transaction}
TIMEOUT=${GRANT_PGBOUNCER_TIMEOUT:-30}
PG_USER=postgres
# The lock lives outside $DIR, which stop removes.
LOCK=${DIR%/}.lock

# instance NAME LISTEN_PORT SERVER_PORT, in start order.
INSTANCES=("main:$MAIN_PORT:$SERVER_PORT" "replica-primary:$RP_PORT:$PG_PRIMARY_PORT" "replica:$RR_PORT:$PG_REPLICA_PORT")

. "$(dirname "$0")/lib.sh"

case $DIR in /*) ;; *) die "GRANT_PGBOUNCER_DIR must be an absolute path, got '$DIR'" ;; esac
case $POOL_MODE in session | transaction | statement) ;; *) die "GRANT_PGBOUNCER_POOL_MODE must be session, transaction or statement, got '$POOL_MODE'" ;; esac
cd /


pgbouncer_bin() {
  command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; } || true
}

# install: Debian's package, without letting its init script start the
# system-wide instance (it would take 127.0.0.1:6432).
install_pgbouncer() {
  [ -n "$(pgbouncer_bin)" ] && return 0
  [ "$(id -u)" = 0 ] || die "pgbouncer is not installed; run as root to install it (apt-get install -y pgbouncer)"
  log "installing pgbouncer (apt-get install -y pgbouncer)"
  local policy=/usr/sbin/policy-rc.d made=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy
    chmod 755 $policy
    made=1
  fi
  local ok=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >"${DIR%/}.install.log" 2>&1 9<&- ||
    { DEBIAN_FRONTEND=noninteractive apt-get update >>"${DIR%/}.install.log" 2>&1 9<&- &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >>"${DIR%/}.install.log" 2>&1 9<&-; } || ok=$?
  [ $made = 1 ] && rm -f $policy
  if [ $ok != 0 ] || [ -z "$(pgbouncer_bin)" ]; then
    tail -n 20 "${DIR%/}.install.log" >&2 || true
    die "could not install pgbouncer (log: ${DIR%/}.install.log)"
  fi
}

name_of() { echo "${1%%:*}"; }
port_of() { local r=${1#*:}; echo "${r%%:*}"; }
server_of() { echo "${1##*:}"; }

ini() { echo "$DIR/$1.ini"; }
pidfile() { echo "$DIR/$1.pid"; }
logfile() { echo "$DIR/$1.log"; }

# alive NAME: the pid in its pidfile is a running pgbouncer.
alive() {
  local pf pid
  pf=$(pidfile "$1")
  [ -f "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q pgbouncer "/proc/$pid/cmdline" 2>/dev/null
}

# admin PORT QUERY: run QUERY on the admin console, print unaligned tuples.
admin() {
  as_pg env PGCONNECT_TIMEOUT=3 psql -X -q -A -t -h 127.0.0.1 -p "$1" -U postgres -d pgbouncer -c "$2"
}

answers() { admin "$1" "SHOW VERSION" >/dev/null 2>&1; }

tail_log() {
  if [ -f "$1" ]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 30 "$1" >&2 || true
    echo "----" >&2
  fi
}

# wait_until DESCRIPTION LOG COMMAND...: retry COMMAND every 0.1s for $TIMEOUT s.
wait_until() {
  local what=$1 logf=$2
  shift 2
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_log "$logf"
      die "timed out after ${TIMEOUT}s waiting for $what (log: $logf)"
    fi
    sleep 0.1
  done
}

port_free() {
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null 9<&-; then
    die "port $1 on 127.0.0.1 is already used by another server (not a pgbouncer of $DIR); set $2"
  fi
}

config() { # NAME PORT SERVER_PORT
  cat <<EOF
;; written by scripts/pgbouncer.sh; overwritten on start
[databases]
* = host=127.0.0.1 port=$3

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir = $DIR
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = postgres
stats_users = postgres
pool_mode = $POOL_MODE
; Below the default open-file limit (1024): two descriptors per client.
max_client_conn = 400
default_pool_size = 20
reserve_pool_size = 0
; Idle server connections go back to the server soon: many throw-away
; databases each get a pool, and the servers allow 100 connections.
server_idle_timeout = 5
autodb_idle_timeout = 30
server_lifetime = 600
server_login_retry = 1
; A client waits this long for a server session: behind a stopped server,
; logins and queries fail after it instead of PgBouncer's 120s.
query_wait_timeout = 15
; pgx sends no extra startup parameters, but libpq-based tools may.
ignore_startup_parameters = extra_float_digits
logfile = $(logfile "$1")
pidfile = $(pidfile "$1")
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
EOF
}

# write_config NAME PORT SERVER_PORT: write the instance's configuration;
# succeeds when it changed.
write_config() {
  local want
  want=$(config "$@")
  [ -f "$(ini "$1")" ] && [ "$(cat "$(ini "$1")")" = "$want" ] && return 1
  as_pg tee "$(ini "$1")" >/dev/null <<<"$want"
}

start_instance() { # SPEC
  local name port server
  name=$(name_of "$1")
  port=$(port_of "$1")
  server=$(server_of "$1")
  if alive "$name"; then
    if write_config "$name" "$port" "$server"; then
      log "configuration of $name changed: reloading it"
      kill -HUP "$(cat "$(pidfile "$name")")"
    fi
    wait_until "pgbouncer $name on 127.0.0.1:$port to accept connections" "$(logfile "$name")" answers "$port"
    return 0
  fi
  rm -f "$(pidfile "$name")"
  case $name in
  main) port_free "$port" GRANT_PGBOUNCER_PORT ;;
  replica-primary) port_free "$port" GRANT_PGBOUNCER_REPLICA_PRIMARY_PORT ;;
  replica) port_free "$port" GRANT_PGBOUNCER_REPLICA_PORT ;;
  esac
  write_config "$name" "$port" "$server" || true
  local out
  if ! out=$(as_pg "$(pgbouncer_bin)" -d "$(ini "$name")" 2>&1); then
    echo "$out" >&2
    tail_log "$(logfile "$name")"
    die "pgbouncer $name did not start (log: $(logfile "$name"))"
  fi
  wait_until "pgbouncer $name on 127.0.0.1:$port to accept connections" "$(logfile "$name")" answers "$port"
}

stop_instance() { # NAME
  local name=$1 pid
  alive "$name" || return 0
  pid=$(cat "$(pidfile "$name")")
  # SIGTERM: immediate shutdown (clients are disconnected).
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
}

cmd_start() {
  local t0=$SECONDS all=1 spec
  for spec in "${INSTANCES[@]}"; do
    if ! alive "$(name_of "$spec")" || ! answers "$(port_of "$spec")" ||
      [ "$(cat "$(ini "$(name_of "$spec")")" 2>/dev/null)" != "$(config "$(name_of "$spec")" "$(port_of "$spec")" "$(server_of "$spec")")" ]; then
      all=0
    fi
  done
  if [ $all = 1 ]; then
    log "already running: 127.0.0.1:$MAIN_PORT -> :$SERVER_PORT, :$RP_PORT -> :$PG_PRIMARY_PORT, :$RR_PORT -> :$PG_REPLICA_PORT ($POOL_MODE pooling)"
    return 0
  fi
  install_pgbouncer
  mkdir -p "$DIR"
  chown "$PG_USER": "$DIR" 2>/dev/null || true
  chmod 700 "$DIR"
  as_pg tee "$DIR/userlist.txt" >/dev/null <<<'"postgres" ""'
  for spec in "${INSTANCES[@]}"; do start_instance "$spec"; done
  log "running: 127.0.0.1:$MAIN_PORT -> :$SERVER_PORT, :$RP_PORT -> :$PG_PRIMARY_PORT, :$RR_PORT -> :$PG_REPLICA_PORT ($POOL_MODE pooling; $((SECONDS - t0))s; dir $DIR)"
}

cmd_stop() {
  local spec
  if [ -e "$DIR" ]; then
    for spec in "${INSTANCES[@]}"; do stop_instance "$(name_of "$spec")"; done
    rm -rf "$DIR"
  fi
  log "stopped; $DIR removed"
}

cmd_status() {
  local ok=0 spec name port state mode
  echo "dir: $DIR$([ -d "$DIR" ] || echo ' (not set up)')"
  for spec in "${INSTANCES[@]}"; do
    name=$(name_of "$spec")
    port=$(port_of "$spec")
    if alive "$name" && answers "$port"; then state=up; else state=down; ok=1; fi
    echo "$name: $state (127.0.0.1:$port -> 127.0.0.1:$(server_of "$spec"), log $(logfile "$name"))"
    if [ $state = up ]; then
      mode=$(admin "$port" "SHOW CONFIG" 2>/dev/null | awk -F'|' '$1 == "pool_mode" { print $2 }')
      echo "  pool_mode: ${mode:-?}; pools (database|user|cl_active|cl_waiting|sv_active|sv_idle):"
      admin "$port" "SHOW POOLS" 2>/dev/null | awk -F'|' '{ print "    " $1 "|" $2 "|" $3 "|" $4 "|" $5 "|" $6 }' || true
    fi
  done
  return $ok
}

[ $# = 1 ] || die "usage: $me start|stop|status"

lock_once "$((TIMEOUT * 3))"

case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "unknown command '$1'; usage: $me start|stop|status" ;;
esac
