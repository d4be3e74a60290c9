#!/usr/bin/env bash
# Runs every test of the repository, installing what the tests need first (the wasm32 target and
# wasm-bindgen-cli, binaryen's wasm-opt from npm, Debian's chromium, Python virtualenvs). `make test` calls this;
# so does CI (.ci/run). Each suite prints its own summary; the last line sums the suites up.
#
# Databases: the repository suite runs on SQLite always, and on MariaDB/MySQL and PostgreSQL at
# TEST_MYSQL_URL / TEST_POSTGRES_URL (default: the local services). They must be reachable.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==== %s\n' "$*"; }
passed=0
failed=0
failures=()
record() { # name, exit code
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# host:port of a database URL, for a reachability probe.
endpoint() { sed -E 's#^[a-z]+://([^@/]*@)?([^/:?]+)(:([0-9]+))?.*#\2 \4#' <<<"$1"; }
require_service() { # name, url, default port
    read -r host port <<<"$(endpoint "$2")"
    port=${port:-$3}
    if ! timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
        echo "test.sh: $1 is not reachable at $host:$port (set $4 or start the service)" >&2
        exit 1
    fi
}

step "services"
require_service MariaDB "$TEST_MYSQL_URL" 3306 TEST_MYSQL_URL
require_service PostgreSQL "$TEST_POSTGRES_URL" 5432 TEST_POSTGRES_URL
require_service Redis "$TEST_REDIS_URL" 6379 TEST_REDIS_URL
echo "MariaDB, PostgreSQL and Redis reachable"

step "widget: build (wasm32, wasm-bindgen, size budget)"
# Built first: the gateway embeds xblock-widget/pkg when it compiles.
scripts/build-widget.sh
record "widget build" $?
export IBAL_REQUIRE_WIDGET=1

step "rust: format and lints"
cargo fmt --all -- --check && cargo clippy --workspace --all-targets --locked -- -D warnings
record "rust lints" $?

step "rust: tests (SQLite, MariaDB, PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --profile ci
else
    cargo test --workspace --locked
fi
record "rust tests" $?

step "widget: unit tests and headless Chromium (wasm-bindgen-test)"
scripts/test-widget.sh
record "widget tests" $?

# A virtualenv per Python package, rebuilt when its requirements change.
venv() { # name, requirements file, editable package
    local dir="$root/.venv/$1" stamp
    stamp=$(cat "$2" "$3/pyproject.toml" | sha256sum | cut -c1-16)
    if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$dir"
        python3 -m venv "$dir" >&2 || return 1
        "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$2" -e "$3" >&2 || return 1
        echo "$stamp" >"$dir/.stamp"
    fi
    echo "$dir/bin/python"
}

step "gateway binary for the Python suites (their contract tests run against the real gateway)"
cargo build -p ibal-gateway --locked
record "gateway build" $?
export IBAL_GATEWAY_BIN="$root/target/debug/ibal-gateway"

step "python: XBlock (XBlock 6.1, xblock-sdk 0.14)"
if py=$(venv xblock xblock-widget/xblock/requirements-test.txt xblock-widget/xblock); then
    xblock-widget/xblock/run-tests.sh "$py"
    record "xblock" $?
else
    record "xblock (install)" 1
fi

step "python: Tutor plugin (tutor 22)"
if py=$(venv tutor tutor-plugin/requirements-test.txt tutor-plugin); then
    tutor-plugin/run-tests.sh "$py"
    record "tutor plugin" $?
else
    record "tutor plugin (install)" 1
fi

step "Caddy: the Caddyfile validated, then two gateways behind it, one stopped mid-chat"
scripts/test-caddy.sh
record "caddy" $?

step "end to end: the XBlock in the xblock-sdk workbench, the gateway, headless Chromium (playwright-core)"
scripts/test-e2e.sh
record "end to end" $?

echo
[ "$failed" -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
