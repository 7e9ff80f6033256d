# Shared helpers of scripts/demo, scripts/test and scripts/bench (sourced, not run).
# - ensure_venv: a .venv with credsync and its dev tools installed (re-installs when pyproject changes)
# - ensure_postgres / ensure_redis / ensure_rabbitmq: use a reachable server (start the machine's own
#   PostgreSQL cluster or RabbitMQ server when it is installed but stopped), else start a private
#   throwaway one in a temp dir, else say what to install. CREDSYNC_PRIVATE_SERVICES=1 always starts
#   private ones. Private servers are stopped by stop_private_services (trap EXIT).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$ROOT/.credsync"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PRIVATE_PIDS=()
PRIVATE_PG_DIRS=()
PRIVATE_DIRS=()
PRIVATE_RABBITMQ_PGIDS=()

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

amqp_reachable() {  # $1: amqp URL
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, pika
params = pika.URLParameters(sys.argv[1])
params.connection_attempts, params.socket_timeout, params.stack_timeout = 1, 3, 5
pika.BlockingConnection(params).close()
PYEOF
}

RABBITMQ_DEFAULT_URL="amqp://guest:guest@127.0.0.1:5672/%2F"
RABBITMQ_INSTALL="Install RabbitMQ 3.8 or newer (Debian/Ubuntu: apt-get install rabbitmq-server), or set CREDSYNC_TEST_AMQP_URL to a reachable server."

# ensure_rabbitmq: sets AMQP_URL to a reachable RabbitMQ (the end-to-end tests run on it too).
ensure_rabbitmq() {
    local candidate
    [ "${CREDSYNC_PRIVATE_SERVICES:-0}" = 1 ] && { start_private_rabbitmq; return 0; }
    for candidate in "${CREDSYNC_TEST_AMQP_URL:-}" "${AMQP_URL:-}" "$RABBITMQ_DEFAULT_URL"; do
        [ -n "$candidate" ] || continue
        if amqp_reachable "$candidate"; then
            AMQP_URL="$candidate"
            return 0
        fi
    done
    # The machine's own server may be installed but stopped: start it (as root), as its package does.
    if [ "$(id -u)" = 0 ] && { [ -x /etc/init.d/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; }; then
        say "starting the installed RabbitMQ server"
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl start rabbitmq-server >/dev/null 2>&1 || true
        elif [ -x /etc/init.d/rabbitmq-server ]; then
            _SYSTEMCTL_SKIP_REDIRECT=1 /etc/init.d/rabbitmq-server start >/dev/null 2>&1 || true
        else
            rabbitmq-server -detached >/dev/null 2>&1 || true
        fi
        for _ in $(seq 1 60); do
            if amqp_reachable "$RABBITMQ_DEFAULT_URL"; then
                AMQP_URL="$RABBITMQ_DEFAULT_URL"
                return 0
            fi
            sleep 1
        done
    fi
    start_private_rabbitmq
}

rabbitmq_bindir() {
    local dir
    for dir in /usr/lib/rabbitmq/bin /usr/local/lib/rabbitmq/bin; do
        [ -x "$dir/rabbitmq-server" ] && [ -x "$dir/rabbitmqctl" ] && { echo "$dir"; return 0; }
    done
    command -v rabbitmq-server >/dev/null 2>&1 && { dirname "$(command -v rabbitmq-server)"; return 0; }
    return 1
}

# A node of our own (its own name, ports on 127.0.0.1, Erlang port mapper, data and cookie), as
# tests/system/brokers.py PrivateRabbitmq makes one: the machine's server is never touched.
start_private_rabbitmq() {
    local bindir epmd dir port epmd_port dist_port
    bindir="$(rabbitmq_bindir)" || die "RabbitMQ is not reachable and its server is not installed.
$RABBITMQ_INSTALL"
    epmd="$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1 || true)"
    [ -n "$epmd" ] || die "RabbitMQ is installed without Erlang's epmd. $RABBITMQ_INSTALL"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/credsync-rabbitmq-XXXXXX")"
    port="$(free_port)"; epmd_port="$(free_port)"; dist_port="$(free_port)"
    say "starting a private RabbitMQ on port $port"
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$dir/.erlang.cookie"
    chmod 400 "$dir/.erlang.cookie"
    echo '[].' >"$dir/enabled_plugins"
    echo 'loopback_users = none' >"$dir/rabbitmq.conf"
    : >"$dir/rabbitmq-env.conf"
    (
        export HOME="$dir" ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$epmd_port" \
            RABBITMQ_NODENAME="credsync-$(basename "$dir" | tail -c 7)@localhost" \
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist_port" \
            RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
            RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
            RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        cd "$dir"
        exec setsid bash -c "'$epmd' -port $epmd_port -address 127.0.0.1 & exec '$bindir/rabbitmq-server'"
    ) >"$dir/server.log" 2>&1 &
    PRIVATE_RABBITMQ_PGIDS+=("$!")
    PRIVATE_DIRS+=("$dir")
    for _ in $(seq 1 60); do
        amqp_reachable "amqp://guest:guest@127.0.0.1:$port/%2F" && break
        sleep 1
    done
    amqp_reachable "amqp://guest:guest@127.0.0.1:$port/%2F" ||
        die "the private RabbitMQ did not start: see $dir/server.log and $dir/log"
    AMQP_URL="amqp://guest:guest@127.0.0.1:$port/%2F"
}

stop_private_services() {
    local pid dir bindir
    for pid in "${PRIVATE_PIDS[@]+"${PRIVATE_PIDS[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PRIVATE_RABBITMQ_PGIDS[@]+"${PRIVATE_RABBITMQ_PGIDS[@]}"}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
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

# ensure_chromium: Chromium and its chromedriver for the browser tier (tests/web/test_browser.py).
# Installs Debian's packages with apt-get where missing and allowed (root, apt present); otherwise
# says the browser tier will be skipped. Never fails: the tier skips itself without them.
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing chromium and chromium-driver for the browser tier"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
            say "could not install chromium (apt-get failed): the browser tier will be skipped"
    else
        say "no chromium/chromedriver and no way to install them here: the browser tier will be skipped (Debian: apt-get install chromium chromium-driver)"
    fi
    return 0
}
