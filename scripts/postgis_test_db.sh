#!/usr/bin/env bash
# Prints the URL of a PostGIS database for the store tests, making it ready first:
# installs Debian's PostGIS where it can (as root), starts the local PostgreSQL cluster if it
# is down, and creates the database `onemap_test` with the postgis extension.
# Prints nothing (and says why on stderr) where that cannot be done; under CI=true that is
# an error, because CI must run the PostGIS tests.
set -uo pipefail
DB=${GEO_TEST_POSTGIS_DB:-onemap_test}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER

give_up() {
  echo "note: PostGIS tests will be skipped: $1" >&2
  if [ "${CI:-}" = true ]; then echo "error: CI needs PostGIS: $1" >&2; exit 1; fi
  exit 0
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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" \
           >/dev/null; } || give_up "cannot install $pkg"
  else
    give_up "PostGIS is not installed (Debian: postgresql-$version-postgis-3)"
  fi
fi
psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -d postgres -qc "CREATE DATABASE $DB" >&2 || give_up "cannot create database $DB"
psql -d "$DB" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >&2 \
  || give_up "cannot create the postgis extension in $DB"
echo "postgresql+psycopg://$PGUSER@$PGHOST/$DB"
