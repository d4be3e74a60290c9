#!/usr/bin/env bash
# Tests the repository-root Caddyfile: validates it with the Caddy Debian ships, then runs it live in
# front of two gateways (tests/caddy, pytest): headers, compression, chat WebSockets across both
# gateways, one gateway stopped mid-chat (reconnect, idempotent resend, retry to the survivor), and
# JSON access logs without credentials.
#
# Installs what it needs when missing, asking nothing:
#   - Debian's caddy and the PostgreSQL client (apt-get, as root or through sudo);
#   - the virtualenv <repo>/.venv/caddy from tests/caddy/requirements.txt (rebuilt when it changes);
# then builds the gateway (cargo build -p ibal-gateway).
#
# Needs PostgreSQL at TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test, a role that
# may create databases) and Redis at TEST_REDIS_URL (default redis://127.0.0.1:6379). The test
# creates a database of its own (ibal_caddy_<random>) and drops it at the end.
# Everything listens on 127.0.0.1 on ports picked at run time; every process started is stopped at the
# end, also on failure or interruption. Exit status: 0 when every test passed; pytest's summary line
# ends the output.
#
# Usage: scripts/test-caddy.sh [pytest arguments…]
# Environment: CADDY_TEST_SKIP_BUILD=1 (use target/debug/ibal-gateway as it is), CADDY_TEST_TIMEOUT
# (seconds for the whole pytest run, default 180), IBAL_GATEWAY_BIN, CADDY_BIN.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"

say() { printf '[test-caddy] %s\n' "$*"; }
die() { printf '[test-caddy] error: %s\n' "$*" >&2; exit 1; }

# 1. Debian's caddy, and psql to create and drop the test database.
apt_install() {
    command -v apt-get >/dev/null || die "$* missing and apt-get is not available"
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    say "installing $* (apt-get)"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing=()
command -v caddy >/dev/null || missing+=(caddy)
command -v psql >/dev/null || missing+=(postgresql-client)
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
export CADDY_BIN="${CADDY_BIN:-$(command -v caddy)}"
say "$("$CADDY_BIN" version)"

# 2. The services the gateways share.
reachable() { # url, default port
    local hostport host port
    hostport="$(sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#' <<<"$1")"
    host="${hostport%%:*}"
    port="${hostport##*:}"
    [ "$port" != "$hostport" ] || port="$2"
    timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}
reachable "$TEST_POSTGRES_URL" 5432 || die "PostgreSQL is not reachable at $TEST_POSTGRES_URL (set TEST_POSTGRES_URL)"
reachable "$TEST_REDIS_URL" 6379 || die "Redis is not reachable at $TEST_REDIS_URL (set TEST_REDIS_URL)"

# 3. A folder for this run (Caddy's state while validating, the list of started processes), and
#    the cleanup that runs however the script ends: it stops whatever the tests left running (only
#    the processes they recorded, by pid) and drops the test database.
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/ibal-caddy-run.XXXXXX")"
export IBAL_CADDY_PIDFILE="$run_dir/pids"
export IBAL_CADDY_DB="ibal_caddy_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
: >"$IBAL_CADDY_PIDFILE"
child=""
cleanup() {
    local pid
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    while read -r pid; do
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null && grep -qaE 'caddy|ibal-gateway' "/proc/$pid/cmdline" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$IBAL_CADDY_PIDFILE"
    psql "$TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS \"$IBAL_CADDY_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 4. Validate, with the variables the Caddyfile reads set as an operator would.
say "caddy validate"
IBAL_SITE=":18080" IBAL_BIND="127.0.0.1" IBAL_UPSTREAMS="127.0.0.1:18001 127.0.0.1:18002" \
    IBAL_ADMIN="off" IBAL_HEALTH_INTERVAL="2s" HOME="$run_dir" XDG_CONFIG_HOME="$run_dir" XDG_DATA_HOME="$run_dir" \
    "$CADDY_BIN" validate --adapter caddyfile --config Caddyfile 2>&1 | grep -E 'Valid configuration|Error' \
    || die "the Caddyfile does not validate"

# 5. The virtualenv.
venv="$root/.venv/caddy"
requirements="$root/tests/caddy/requirements.txt"
stamp="$(sha256sum "$requirements" | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$stamp" >"$venv/.stamp"
fi

# 6. The gateway.
export IBAL_GATEWAY_BIN="${IBAL_GATEWAY_BIN:-$root/target/debug/ibal-gateway}"
if [ "${CADDY_TEST_SKIP_BUILD:-0}" != "1" ]; then
    say "building the gateway"
    cargo build --quiet -p ibal-gateway
fi
[ -x "$IBAL_GATEWAY_BIN" ] || die "$IBAL_GATEWAY_BIN is missing"

# 7. The tests, bounded in time. In the background so that a signal to this script is acted on at
#    once: it is passed on to the tests (timeout forwards it to its whole process group).
say "running tests/caddy (database $IBAL_CADDY_DB)"
(cd tests/caddy && exec timeout --kill-after=10 "${CADDY_TEST_TIMEOUT:-180}" "$venv/bin/python" -m pytest "$@") &
child=$!
status=0
wait "$child" || status=$?
child=""
exit "$status"
