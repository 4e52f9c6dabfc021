#!/usr/bin/env bash
# A throw-away MariaDB primary with one GTID replica for the replica tests
# (internal/testdb.MariaDBReplica). Run as root: mariadbd runs as the mysql
# user (--user=mysql).
#
#   usage: scripts/mariadb-replica.sh start|stop|pause|resume|stop-replica|start-replica|status
#
#   start          create (mariadb-install-db) and start both servers, set up
#                  GTID replication and wait until the replica has caught up;
#                  already running and replicating -> no-op (replication
#                  threads that were stopped, e.g. by pause, are started)
#   stop           stop both servers and remove the directory
#   pause/resume   STOP SLAVE SQL_THREAD / START SLAVE SQL_THREAD on the replica
#   stop-replica   stop only the replica (mariadb-admin shutdown), for failover tests
#   start-replica  start the replica again and wait until it replicates
#   status         print whether each server is up and the replica's lag;
#                  exit 0 when both are up and replicating, 1 otherwise
#
# Environment (defaults in brackets):
#   GRANT_MARIADB_REPLICA_DIR           work directory [/tmp/grant-mariadb-replica]
#   GRANT_MARIADB_REPLICA_PRIMARY_PORT  primary port on 127.0.0.1 [53306]
#   GRANT_MARIADB_REPLICA_PORT          replica port on 127.0.0.1 [53307]
#   GRANT_MARIADB_REPLICA_TIMEOUT       seconds to wait for each step [60]
#
# Users (on both servers, the replica gets them through replication):
#   root@127.0.0.1 / root@localhost, no password: everything, and root may
#       write to the --read-only replica;
#   grant_app@'%', password grant_app: all privileges except SUPER and
#       READ_ONLY ADMIN, so the replica refuses its writes (error 1290).
# The replica's sockets are in the directory: $DIR/primary.sock, $DIR/replica.sock.
set -euo pipefail

DIR=${GRANT_MARIADB_REPLICA_DIR:-/tmp/grant-mariadb-replica}
PRIMARY_PORT=${GRANT_MARIADB_REPLICA_PRIMARY_PORT:-53306}
REPLICA_PORT=${GRANT_MARIADB_REPLICA_PORT:-53307}
TIMEOUT=${GRANT_MARIADB_REPLICA_TIMEOUT:-60}
MARIADBD=${GRANT_MARIADBD:-/usr/sbin/mariadbd}
RUN_USER=mysql
READY=$DIR/ready # written once both servers were set up completely
# The lock lives outside $DIR, which stop removes.
LOCK=${DIR%/}.lock

. "$(dirname "$0")/lib.sh"

case $DIR in /*) ;; *) die "GRANT_MARIADB_REPLICA_DIR must be an absolute path, got '$DIR'" ;; esac
cd /

[ -x "$MARIADBD" ] || die "no MariaDB server at $MARIADBD (set GRANT_MARIADBD)"
command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found"
[ "$(id -u)" = 0 ] || die "run as root (mariadbd runs as $RUN_USER); running as $(id -un)"

# Per server (primary|replica): data dir, socket, pid file, log, port.
data() { echo "$DIR/$1"; }
sock() { echo "$DIR/$1.sock"; }
pidf() { echo "$DIR/$1.pid"; }
logf() { echo "$DIR/$1.log"; }
port() { if [ "$1" = primary ]; then echo "$PRIMARY_PORT"; else echo "$REPLICA_PORT"; fi; }

# sql SERVER QUERY: run QUERY as root over the socket, print tab-separated rows.
sql() {
  mariadb --no-defaults --connect-timeout=5 -S "$(sock "$1")" -u root -N -B -e "$2" 9<&-
}

# running SERVER: its mariadbd process (pid file) is alive.
running() {
  local pid
  pid=$(cat "$(pidf "$1")" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qF -- "--datadir=$(data "$1")" "/proc/$pid/cmdline" 2>/dev/null
}
answers() { mariadb-admin --no-defaults --connect-timeout=2 -S "$(sock "$1")" -u root ping >/dev/null 2>&1 9<&-; }
# port_taken PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_taken() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null 9<&-; }

tail_log() {
  if [ -f "$1" ]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 30 "$1" >&2 || true
    echo "----" >&2
  fi
}

fail() {
  tail_log "$(logf primary)"
  tail_log "$(logf replica)"
  die "$* (logs: $(logf primary), $(logf replica))"
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

start_server() { # SERVER
  local s=$1 extra
  if running "$s"; then return 0; fi
  if port_taken "$(port "$s")"; then
    die "port $(port "$s") on 127.0.0.1 is already used by another server (not one in $DIR); set GRANT_MARIADB_REPLICA_$([ "$s" = primary ] && echo PRIMARY_)PORT"
  fi
  if [ "$s" = primary ]; then
    extra=(--server-id=1 --log-bin --binlog-format=MIXED)
  else
    extra=(--server-id=2 --read-only --relay-log-recovery --skip-log-bin)
  fi
  rm -f "$(pidf "$s")"
  # mariadbd opens --log-error itself, as the mysql user.
  touch "$(logf "$s")"
  chown "$RUN_USER": "$(logf "$s")"
  # --log-basename first: it sets the defaults of the file names after it.
  setsid "$MARIADBD" --no-defaults --log-basename="$s" --user="$RUN_USER" --datadir="$(data "$s")" \
    --port="$(port "$s")" --bind-address=127.0.0.1 --socket="$(sock "$s")" \
    --pid-file="$(pidf "$s")" --log-error="$(logf "$s")" \
    --skip-name-resolve --gtid-strict-mode=1 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=8M \
    --innodb-flush-log-at-trx-commit=2 --max-connections=200 \
    "${extra[@]}" </dev/null >>"$(logf "$s")" 2>&1 9<&- &
  local pid=$! deadline=$((SECONDS + TIMEOUT))
  until answers "$s"; do
    if ! kill -0 "$pid" 2>/dev/null; then fail "the $s mariadbd exited while starting"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then fail "timed out after ${TIMEOUT}s waiting for the $s to start"; fi
    sleep 0.1
  done
}

stop_server() { # SERVER
  local s=$1 pid
  running "$s" || return 0
  pid=$(cat "$(pidf "$s")")
  mariadb-admin --no-defaults -S "$(sock "$s")" -u root shutdown >/dev/null 2>&1 9<&- || kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the $s (pid $pid) did not stop in ${TIMEOUT}s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
  done
}

# slave_status: SHOW SLAVE STATUS on the replica, one "Field: value" a line.
slave_status() {
  mariadb --no-defaults --connect-timeout=5 -S "$(sock replica)" -u root -B -e "SHOW SLAVE STATUS\\G" 9<&-
}

# slave_field NAME: a field of SHOW SLAVE STATUS on the replica.
slave_field() { slave_status | sed -n "s/^ *$1: //p"; }

is_replicating() {
  [ "$(slave_field Slave_IO_Running)" = Yes ] && [ "$(slave_field Slave_SQL_Running)" = Yes ]
}

caught_up() {
  local pos
  pos=$(sql primary "SELECT @@gtid_binlog_pos")
  [ "$(sql replica "SELECT MASTER_GTID_WAIT('$pos', 1)")" = 0 ]
}

wait_replicating() {
  wait_until "the replica on port $REPLICA_PORT to replicate from the primary on port $PRIMARY_PORT" is_replicating
  wait_until "the replica to catch up with the primary" caught_up
}

destroy() {
  stop_server replica
  stop_server primary
  rm -rf "$DIR"
}

create() {
  if [ -e "$DIR" ]; then
    log "removing the incomplete setup in $DIR"
    destroy
  fi
  mkdir -p "$DIR"
  chown "$RUN_USER": "$DIR"
  chmod 750 "$DIR"
  local s pids=()
  for s in primary replica; do
    mariadb-install-db --no-defaults --user="$RUN_USER" --datadir="$(data "$s")" \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      --innodb-buffer-pool-size=32M --innodb-log-file-size=8M \
      >"$DIR/install-$s.log" 2>&1 9<&- &
    pids+=($!)
  done
  for s in 0 1; do
    if ! wait "${pids[$s]}"; then
      s=$([ "$s" = 0 ] && echo primary || echo replica)
      tail_log "$DIR/install-$s.log"
      die "mariadb-install-db failed for the $s (log: $DIR/install-$s.log)"
    fi
  done
  start_server primary
  start_server replica
  sql replica "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;" ||
    fail "could not set up replication on the replica"
  # Created on the primary and replicated, like everything else.
  sql primary "CREATE USER 'grant_app'@'%' IDENTIFIED BY 'grant_app';
    GRANT ALL PRIVILEGES ON *.* TO 'grant_app'@'%';
    REVOKE SUPER, READ_ONLY ADMIN ON *.* FROM 'grant_app'@'%';" ||
    fail "could not create the grant_app user"
  wait_replicating
  [ "$(sql replica "SELECT count(*) FROM mysql.user WHERE user = 'grant_app'")" = 1 ] ||
    fail "the grant_app user did not replicate"
  touch "$READY"
}

cmd_start() {
  local t0=$SECONDS
  if [ -f "$READY" ] && running primary && running replica && is_replicating >/dev/null 2>&1; then
    log "already running: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT"
    return 0
  fi
  if [ -f "$READY" ]; then
    start_server primary
    start_server replica
    # The replica restarts its slave threads by itself; start them in case
    # they were stopped (e.g. by pause) when it went down.
    sql replica "START SLAVE" >/dev/null 2>&1 || true
    wait_replicating
  else
    create
  fi
  log "running: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT (replicating; $((SECONDS - t0))s; dir $DIR)"
}

cmd_stop() {
  if [ -e "$DIR" ]; then
    stop_server replica
    stop_server primary
    rm -rf "$DIR"
  fi
  log "stopped; $DIR removed"
}

need_ready() { [ -f "$READY" ] || die "not set up in $DIR; run: $0 start"; }
need_replica_up() {
  need_ready
  running replica || die "the replica (port $REPLICA_PORT) is not running; run: $0 start-replica"
}

cmd_pause() {
  need_replica_up
  sql replica "STOP SLAVE SQL_THREAD" || fail "STOP SLAVE SQL_THREAD failed"
  log "replication SQL thread stopped on the replica (replay paused)"
}

cmd_resume() {
  need_replica_up
  sql replica "START SLAVE SQL_THREAD" || fail "START SLAVE SQL_THREAD failed"
  log "replication SQL thread started on the replica (replay resumed)"
}

cmd_stop_replica() {
  need_ready
  stop_server replica
  log "replica stopped (port $REPLICA_PORT)"
}

cmd_start_replica() {
  need_ready
  running primary || die "the primary (port $PRIMARY_PORT) is not running; run: $0 start"
  start_server replica
  sql replica "START SLAVE" >/dev/null 2>&1 || true
  wait_replicating
  log "replica running and replicating (port $REPLICA_PORT)"
}

cmd_status() {
  local ok=0 p=down r=down
  if running primary && answers primary; then p=up; else ok=1; fi
  if running replica && answers replica; then r=up; else ok=1; fi
  echo "dir:     $DIR$([ -f "$READY" ] || echo ' (not set up)')"
  echo "primary: $p (127.0.0.1:$PRIMARY_PORT, log $(logf primary))"
  echo "replica: $r (127.0.0.1:$REPLICA_PORT, log $(logf replica))"
  if [ $p = up ]; then
    echo "primary gtid_binlog_pos: $(sql primary "SELECT @@gtid_binlog_pos" 2>/dev/null || echo '?')"
  fi
  if [ $r = up ]; then
    local st io sqlt
    st=$(slave_status 2>/dev/null || true)
    io=$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$st")
    sqlt=$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st")
    echo "replica gtid_slave_pos:  $(sql replica "SELECT @@gtid_slave_pos" 2>/dev/null || echo '?')"
    echo "replica: IO thread ${io:-?}, SQL thread ${sqlt:-?}, Seconds_Behind_Master $(sed -n 's/^ *Seconds_Behind_Master: //p' <<<"$st")"
    local err
    err=$(sed -n 's/^ *Last_\(IO\|SQL\)_Error: \(..*\)$/\2/p' <<<"$st")
    [ -z "$err" ] || echo "replica errors: $err"
    [ "$io" = Yes ] || ok=1
  fi
  return $ok
}

[ $# = 1 ] || die "usage: $me start|stop|pause|resume|stop-replica|start-replica|status"

lock_once "$((TIMEOUT * 3))"

case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
pause) cmd_pause ;;
resume) cmd_resume ;;
stop-replica) cmd_stop_replica ;;
start-replica) cmd_start_replica ;;
status) cmd_status ;;
*) die "unknown command '$1'; usage: $me start|stop|pause|resume|stop-replica|start-replica|status" ;;
esac
