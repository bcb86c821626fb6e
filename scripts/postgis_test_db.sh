#!/usr/bin/env bash
# Prints the URL of a PostGIS database for the store tests, making it ready first:
# installs Debian's PostGIS where it can (as root), starts the local PostgreSQL cluster if it
# is down, and creates the database `onemap_test` with the postgis extension.
# Prints nothing (and says why on stderr) where that cannot be done; under CI=true that is
# an error, because CI must run the PostGIS tests.
# When another package manager run (apt, dpkg, unattended-upgrades) holds its lock, the
# install waits for it, up to GEO_APT_LOCK_WAIT seconds (default 600), saying so.
set -uo pipefail
DB=${GEO_TEST_POSTGIS_DB:-onemap_test}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
APT_LOCK_WAIT=${GEO_APT_LOCK_WAIT:-600}
export PGHOST PGUSER
exec 3>&2  # the script's own messages, even where a command's stderr is silenced

give_up() {
  echo "note: PostGIS tests will be skipped: $*" >&3
  if [ "${CI:-}" = true ]; then echo "error: CI needs PostGIS: $*" >&3; exit 1; fi
  exit 0
}

# The PIDs holding the package manager's locks (empty output, status 1: none).
apt_lock_holders() {
  local locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock
               /var/cache/apt/archives/lock)
  local pids=""
  if command -v fuser >/dev/null 2>&1; then
    pids=$(fuser "${locks[@]}" 2>/dev/null | tr -cs '0-9' '\n' | grep -v '^$' | sort -u)
  elif command -v lslocks >/dev/null 2>&1; then
    pids=$(lslocks -n -o PID,PATH 2>/dev/null \
           | awk -v l=" ${locks[*]} " 'index(l, " " $2 " ") {print $1}' | sort -u)
  fi
  [ -n "$pids" ] && echo $pids
}

# Wait (bounded by APT_LOCK_WAIT seconds) until no other run holds the package manager.
wait_for_package_manager() {
  local waited=0 holders
  while holders=$(apt_lock_holders); do
    if [ "$waited" -ge "$APT_LOCK_WAIT" ]; then
      give_up "another package manager run (pid $holders) still holds its lock after" \
        "${APT_LOCK_WAIT}s (set GEO_APT_LOCK_WAIT to wait longer)"
    fi
    if [ $((waited % 30)) -eq 0 ]; then
      echo "waiting for another package manager run to finish (pid $holders:" \
        "$(ps -o comm= -p "${holders%% *}" 2>/dev/null); ${waited}s of at most" \
        "${APT_LOCK_WAIT}s)" >&3
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

# apt-get after the wait; its own lock timeout covers a run that starts in between.
apt_get() {
  wait_for_package_manager
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
}

command -v psql >/dev/null 2>&1 || give_up "PostgreSQL client (psql) not found"
version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if ! pg_isready -q; then
  [ -n "$version" ] || give_up "no local PostgreSQL cluster and none reachable at $PGHOST"
  echo "starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 30); do pg_isready -q && break; sleep 1; done
  pg_isready -q || give_up "PostgreSQL at $PGHOST does not answer"
fi
if [ -n "$version" ] && [ ! -e "/usr/share/postgresql/$version/extension/postgis.control" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian package postgresql-$version-postgis-3" >&2
    pkg="postgresql-$version-postgis-3"
    apt_get install -y -qq "$pkg" >/dev/null 2>&1 \
      || { apt_get update -qq && apt_get install -y -qq "$pkg" >/dev/null; } \
      || give_up "cannot install $pkg"
  else
    give_up "PostGIS is not installed (Debian: postgresql-$version-postgis-3)"
  fi
fi
psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -d postgres -qc "CREATE DATABASE $DB" >&2 || give_up "cannot create database $DB"
psql -d "$DB" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >&2 \
  || give_up "cannot create the postgis extension in $DB"
echo "postgresql+psycopg://$PGUSER@$PGHOST/$DB"
