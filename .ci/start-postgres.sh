# Sourced by .ci/run: start a private PostgreSQL 15 cluster (Unix socket only, trust auth, as
# the postgres user when run as root) and export DRIFTLINE_TEST_PG, so the store tests run on
# both backends (tests/pgserver.py creates a fresh database per test). Stopped on exit.
PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/initdb" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null || true
fi
if [ -x "$PG_BIN/initdb" ]; then
  PG_CI_BASE=$(mktemp -d /tmp/driftline-ci-pg.XXXXXX)
  PG_CI_AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_CI_BASE"
    PG_CI_AS=(runuser -u postgres --)
  fi
  PG_CI_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${PG_CI_AS[@]}" "$PG_BIN/initdb" -D "$PG_CI_BASE/data" -U postgres --auth=trust --no-sync >/dev/null
  "${PG_CI_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_CI_BASE/data" -l "$PG_CI_BASE/log" -w \
    -o "-k $PG_CI_BASE -p $PG_CI_PORT -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
  trap '"${PG_CI_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_CI_BASE/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PG_CI_BASE"' EXIT
  export DRIFTLINE_TEST_PG="postgresql+psycopg://postgres@/postgres?host=$PG_CI_BASE&port=$PG_CI_PORT"
  echo "PostgreSQL 15 for the tests: $DRIFTLINE_TEST_PG"
else
  echo "PostgreSQL 15 is not installed: the PostgreSQL tests will be skipped"
fi
