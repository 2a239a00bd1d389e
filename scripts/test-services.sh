#!/usr/bin/env bash
# Throw-away PostgreSQL and MLflow tracking servers for the scale-out tests (tests/scale/), on
# 127.0.0.1 only, in a folder of their own; stopped by `stop`. The tests' fixture runs both.
#   bash scripts/test-services.sh install [--required]   # Debian's postgresql when missing
#   bash scripts/test-services.sh start DIR PYTHON        # prints the two URLs, one per line
#   bash scripts/test-services.sh stop DIR
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
set -uo pipefail
cmd=${1:-}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

free_port() { "$1" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
install)
    [ -n "$bindir" ] && exit 0
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends postgresql >/dev/null; then
        exit 0
    fi
    [ "${2:-}" = "--required" ] && { echo "error: could not install postgresql" >&2; exit 1; }
    echo "note: no postgresql (apt-get install postgresql); the scale-out tests will be skipped" >&2
    ;;
start)
    dir=$2; python=$3
    [ -n "$bindir" ] || { echo "error: PostgreSQL is not installed (bash $0 install)" >&2; exit 1; }
    mkdir -p "$dir/artifacts"
    # the cluster's own folder, where the postgres user can reach it (pytest's are root-only)
    pg=$(mktemp -d /tmp/benchmark-pg.XXXXXX); echo "$pg" >"$dir/pgdata"
    [ "$(id -u)" = 0 ] && chown postgres "$pg"
    pgport=$(free_port "$python"); mlport=$(free_port "$python")
    as_pg "$bindir/initdb" -D "$pg/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bindir/pg_ctl" -D "$pg/data" -l "$pg/pg.log" -w -t 60 \
        -o "-p $pgport -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start \
        >/dev/null || { cat "$pg/pg.log" >&2; exit 1; }
    for db in optuna mlflow; do
        as_pg "$bindir/createdb" -h 127.0.0.1 -p "$pgport" -U postgres "$db" || exit 1
    done
    MLFLOW_DISABLE_TELEMETRY=true "$python" -m mlflow server --host 127.0.0.1 --port "$mlport" --workers 1 \
        --backend-store-uri "postgresql+psycopg://postgres@127.0.0.1:$pgport/mlflow" \
        --artifacts-destination "$dir/artifacts" >"$dir/mlflow.log" 2>&1 &
    echo $! >"$dir/mlflow.pid"
    for _ in $(seq 240); do
        "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$mlport/health', timeout=2)" \
            2>/dev/null && break
        kill -0 "$(cat "$dir/mlflow.pid")" 2>/dev/null || { tail -30 "$dir/mlflow.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "postgresql+psycopg://postgres@127.0.0.1:$pgport/optuna"
    echo "http://127.0.0.1:$mlport"
    ;;
stop)
    dir=$2
    if [ -f "$dir/mlflow.pid" ]; then
        pid=$(cat "$dir/mlflow.pid")
        pkill -TERM -P "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        pkill -KILL -P "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
        rm -f "$dir/mlflow.pid"
    fi
    if [ -f "$dir/pgdata" ]; then
        pg=$(cat "$dir/pgdata")
        [ -f "$pg/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null
        case "$pg" in /tmp/benchmark-pg.*) rm -rf "$pg" ;; esac
        rm -f "$dir/pgdata"
    fi
    exit 0
    ;;
*)
    echo "usage: $0 install [--required] | start DIR PYTHON | stop DIR" >&2; exit 2
    ;;
esac
