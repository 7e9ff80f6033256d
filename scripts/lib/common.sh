# Shared helpers of scripts/demo, scripts/test and scripts/bench (sourced, not run).
# - ensure_venv: a .venv with credsync and its dev tools installed (re-installs when pyproject changes)
# - ensure_postgres / ensure_redis: use a reachable server (start the machine's own PostgreSQL
#   cluster when it is installed but stopped), else start a private throwaway one in a temp dir, else
#   say what to install. CREDSYNC_PRIVATE_SERVICES=1 always starts private ones. Private servers are
#   stopped by stop_private_services (trap EXIT).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$ROOT/.credsync"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PRIVATE_PIDS=()
PRIVATE_PG_DIRS=()
PRIVATE_DIRS=()

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'credsync: %s\n' "$*" >&2; exit 1; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "Python 3.11 or newer is needed (Debian/Ubuntu: apt-get install python3 python3-venv)"
}

ensure_venv() {
    local stamp="$VENV/.credsync-installed" want
    want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
    if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    say "installing credsync into .venv"
    if [ ! -x "$PY" ]; then
        "$(find_python)" -m venv "$VENV" || die "could not create .venv (Debian/Ubuntu: apt-get install python3-venv)"
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]"
    echo "$want" >"$stamp"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_reachable() {  # $1: connection URL
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PYEOF
}

pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin /usr/local/bin /usr/bin; do
        [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
    done
    return 1
}

# ensure_postgres: sets PG_ADMIN_URL to a superuser URL of a reachable server (its "postgres" database).
ensure_postgres() {
    local candidate
    if [ "${CREDSYNC_PRIVATE_SERVICES:-0}" = 1 ]; then
        start_private_postgres
        return 0
    fi
    for candidate in "${CREDSYNC_TEST_PG_URL:-}" "${PG_ADMIN_URL:-}" \
        "postgresql://postgres@127.0.0.1:5432/postgres" "postgresql://127.0.0.1:5432/postgres"; do
        [ -n "$candidate" ] || continue
        if pg_reachable "$candidate"; then
            PG_ADMIN_URL="$candidate"
            return 0
        fi
    done
    # The machine's own cluster may be installed but stopped: start it (Debian's wrapper, as root).
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
        if [ -n "$version" ]; then
            say "starting the installed PostgreSQL $version cluster"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
            for _ in $(seq 1 20); do
                if pg_reachable "postgresql://postgres@127.0.0.1:5432/postgres"; then
                    PG_ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres"
                    return 0
                fi
                sleep 0.5
            done
        fi
    fi
    start_private_postgres
}

start_private_postgres() {
    local bindir port dir user
    bindir="$(pg_bindir)" || die "PostgreSQL is not reachable and its server is not installed.
Install PostgreSQL 13 or newer (Debian/Ubuntu: apt-get install postgresql), or set CREDSYNC_TEST_PG_URL / DATABASE_URL to a reachable server."
    port="$(free_port)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/credsync-pg-XXXXXX")"
    say "starting a private PostgreSQL on port $port"
    if [ "$(id -u)" = 0 ]; then
        # initdb and pg_ctl refuse to run as root: run them as the postgres system user.
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
        chown postgres "$dir"
        user=(runuser -u postgres --)
    else
        user=()
    fi
    "${user[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: see $dir/initdb.log"
    "${user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
        die "the private PostgreSQL did not start: see $dir/server.log"
    PRIVATE_PG_DIRS+=("$dir")
    PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

redis_reachable() {  # $1: redis URL
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
PYEOF
}

# ensure_redis: sets REDIS_URL to a reachable Redis.
ensure_redis() {
    local candidate port dir
    [ "${CREDSYNC_PRIVATE_SERVICES:-0}" = 1 ] && set -- private
    for candidate in "${CREDSYNC_TEST_REDIS_URL:-}" "${REDIS_URL:-}" "redis://127.0.0.1:6379/0"; do
        [ -n "$candidate" ] && [ "${1:-}" != private ] || continue
        if redis_reachable "$candidate"; then
            REDIS_URL="$candidate"
            return 0
        fi
    done
    command -v redis-server >/dev/null 2>&1 || die "Redis is not reachable and redis-server is not installed.
Install Redis 6 or newer (Debian/Ubuntu: apt-get install redis-server), or set CREDSYNC_TEST_REDIS_URL / BROKER_URL."
    port="$(free_port)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/credsync-redis-XXXXXX")"
    say "starting a private Redis on port $port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
    for _ in $(seq 1 50); do
        redis_reachable "redis://127.0.0.1:$port/0" && break
        sleep 0.1
    done
    redis_reachable "redis://127.0.0.1:$port/0" || die "the private Redis did not start: see $dir/redis.log"
    PRIVATE_PIDS+=("$(cat "$dir/redis.pid")")
    PRIVATE_DIRS+=("$dir")
    REDIS_URL="redis://127.0.0.1:$port/0"
}

stop_private_services() {
    local pid dir bindir
    for pid in "${PRIVATE_PIDS[@]+"${PRIVATE_PIDS[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    for dir in "${PRIVATE_DIRS[@]+"${PRIVATE_DIRS[@]}"}"; do
        rm -rf "$dir"
    done
    if [ "${#PRIVATE_PG_DIRS[@]}" -gt 0 ]; then
        bindir="$(pg_bindir)"
        for dir in "${PRIVATE_PG_DIRS[@]}"; do
            if [ "$(id -u)" = 0 ]; then
                runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
            else
                "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
            fi
            rm -rf "$dir"
        done
    fi
}
