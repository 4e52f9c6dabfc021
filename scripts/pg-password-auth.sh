#!/usr/bin/env bash
# Makes the main PostgreSQL cluster (127.0.0.1:5432) check passwords for the
# members of one group role, so that credential tests can fail: the cluster
# trusts every other login, and a trusted login accepts any password.
# Run as root (the postgres user works too); idempotent and quick.
#
#   usage: scripts/pg-password-auth.sh
#
# It creates the group role grant_password_users (NOLOGIN) if missing, puts
#
#   host all +grant_password_users 127.0.0.1/32 scram-sha-256
#   host all +grant_password_users ::1/128      scram-sha-256
#
# at the top of the cluster's pg_hba.conf (found with SHOW hba_file) unless
# they are there, and reloads the configuration. Logins outside the group
# (postgres, the tests' own users) keep the rules below, trust included.
#
# Environment (defaults in brackets):
#   GRANT_PG_PASSWORD_GROUP  the group role [grant_password_users]
#   GRANT_PG_ADMIN           psql connection options [-h 127.0.0.1 -p 5432 -U postgres]
set -euo pipefail

GROUP=${GRANT_PG_PASSWORD_GROUP:-grant_password_users}
read -r -a ADMIN <<<"${GRANT_PG_ADMIN:--h 127.0.0.1 -p 5432 -U postgres}"
MARK="# grant: scripts/pg-password-auth.sh (password checks for members of $GROUP)"

. "$(dirname "$0")/lib.sh"

psql_admin() { psql "${ADMIN[@]}" -X -v ON_ERROR_STOP=1 -Atq "$@"; }

case $GROUP in *[!a-z0-9_]* | '') die "GRANT_PG_PASSWORD_GROUP must match [a-z0-9_]+, got '$GROUP'" ;; esac

hba=$(psql_admin -c 'SHOW hba_file') || die "cannot reach PostgreSQL with psql ${ADMIN[*]}"
[ -f "$hba" ] || die "pg_hba.conf '$hba' is not a file on this machine (run on the server's host)"

psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$GROUP') THEN
    CREATE ROLE $GROUP NOLOGIN;
  END IF;
END \$\$"

if grep -qxF "$MARK" "$hba"; then
  echo "$me: $hba already checks passwords for +$GROUP"
else
  tmp=$(mktemp "$hba.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  {
    echo "$MARK"
    printf 'host all +%s 127.0.0.1/32 scram-sha-256\n' "$GROUP"
    printf 'host all +%s ::1/128 scram-sha-256\n' "$GROUP"
    cat "$hba"
  } >"$tmp"
  chown --reference="$hba" "$tmp"
  chmod --reference="$hba" "$tmp"
  mv "$tmp" "$hba"
  trap - EXIT
  echo "$me: $hba now checks passwords for +$GROUP"
fi

# pg_reload_conf() only signals the postmaster; pg_hba_file_rules shows
# what a reload parsed, so a broken file is reported here, not later.
psql_admin -c 'SELECT pg_reload_conf()' >/dev/null
errors=$(psql_admin -c "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
[ "$errors" = 0 ] || die "$hba has $errors unparsable line(s): see pg_hba_file_rules"
