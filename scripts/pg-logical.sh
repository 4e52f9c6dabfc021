#!/usr/bin/env bash
# Lets the main PostgreSQL cluster (127.0.0.1:5432) do logical decoding, which
# resharding's change capture (reshard.PostgresCapture) reads each shard
# through: a replication slot with the pgoutput plugin needs
# wal_level=logical, and the parallel tests each hold a slot and, while they
# export a snapshot, a replication connection.
# Run as root (the postgres user works too); idempotent and quick.
#
#   usage: scripts/pg-logical.sh
#
# It sets, with ALTER SYSTEM, those of
#
#   wal_level = logical
#   max_replication_slots = 64
#   max_wal_senders = 32
#
# that differ (the two limits: that are lower), and restarts the cluster only when a setting in the files waits
# for one (pg_file_settings): so a caller may ALTER SYSTEM
# another restart-only setting first and share this restart (.ci/run does
# with max_connections). Then it waits until the cluster accepts connections.
#
# Environment (defaults in brackets):
#   GRANT_PG_ADMIN  psql connection options [-h 127.0.0.1 -p 5432 -U postgres]
set -euo pipefail

read -r -a ADMIN <<<"${GRANT_PG_ADMIN:--h 127.0.0.1 -p 5432 -U postgres}"

. "$(dirname "$0")/lib.sh"

psql_admin() { psql "${ADMIN[@]}" -X -v ON_ERROR_STOP=1 -d postgres -Atq "$@"; }
up() { psql_admin -c 'SELECT 1' >/dev/null 2>&1; }

up || die "cannot reach PostgreSQL with psql ${ADMIN[*]}"

# Only ALTER SYSTEM what differs: an unchanged postgresql.auto.conf keeps the
# restart below from happening on every run. The limits are only raised: a
# server that allows more keeps it (fewer slots than exist would not start).
for setting in wal_level=logical max_replication_slots=64 max_wal_senders=32; do
  name=${setting%%=*}
  want=${setting#*=}
  have=$(psql_admin -c "SHOW $name")
  case $want in
  [0-9]*) [ "$have" -lt "$want" ] || continue ;;
  *) [ "$have" != "$want" ] || continue ;;
  esac
  log "$name: $have -> $want"
  psql_admin -c "ALTER SYSTEM SET $name = '$want'"
done

# pg_file_settings reads the configuration files when queried: a line the
# running server has not taken, and cannot without a restart, is flagged
# "setting could not be applied". That covers ours and any restart-only
# setting the caller changed, without a reload or a race with one.
pending=$(psql_admin -c "SELECT string_agg(DISTINCT name, ', ') FROM pg_file_settings WHERE NOT applied AND error IS NOT NULL")

if [ -z "$pending" ]; then
  log "logical decoding already on (wal_level=logical), nothing to restart"
  exit 0
fi

log "restarting PostgreSQL for: $pending"
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
for i in $(seq 1 60); do
  if up; then break; fi
  [ "$i" = 60 ] && die "PostgreSQL did not come back in 60s"
  sleep 1
done
level=$(psql_admin -c 'SHOW wal_level')
[ "$level" = logical ] || die "wal_level is still $level after the restart"
log "PostgreSQL is back with wal_level=logical"
