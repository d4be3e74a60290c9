#!/usr/bin/env bash
# End-to-end browser tests (tests/e2e): the IBAL XBlock journey in the xblock-sdk workbench against
# the real gateway, a fake Open edX LMS and a fake OpenAI-compatible server, in headless Chromium
# driven by playwright-core; plus the gateway's standalone page with a local account.
#
# Installs what it needs when missing, asking nothing:
#   - Debian's chromium (apt-get), used at /usr/bin/chromium (CHROMIUM_PATH overrides);
#   - tests/e2e/node_modules (npm ci; playwright-core only, no browser download);
#   - the XBlock virtualenv <repo>/.venv/xblock (XBlock, xblock-sdk, the ibal-xblock package);
# then builds the widget (scripts/build-widget.sh) and the gateway that embeds it
# (cargo build -p ibal-gateway), and runs the tests with node's test runner.
#
# Everything listens on 127.0.0.1, on ports picked at run time. Every process the tests start is
# stopped at the end, also on failure or interruption. Screenshots and the processes' logs are kept
# in tests/output/e2e/ (gitignored). Exit status: 0 when every test passed.
#
# Usage: scripts/test-e2e.sh [test files…]   (default: every tests/e2e/*.test.mjs)
# Environment: E2E_CONCURRENCY (test files run at once, default 3), E2E_TIMEOUT (seconds for the
# whole test run, default 240), E2E_SKIP_BUILD=1 (use the binaries as they are), E2E_SLOWMO (ms).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
e2e="$root/tests/e2e"
out="$root/tests/output/e2e"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

say() { printf '[test-e2e] %s\n' "$*"; }
die() { printf '[test-e2e] error: %s\n' "$*" >&2; exit 1; }

# 1. Chromium.
if [ ! -x "$CHROMIUM_PATH" ]; then
    command -v apt-get >/dev/null || die "$CHROMIUM_PATH is missing and apt-get is not available"
    say "installing Debian's chromium"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
    [ -x "$CHROMIUM_PATH" ] || die "chromium was installed but $CHROMIUM_PATH does not exist (set CHROMIUM_PATH)"
fi

# 2. Node.js 20+ and playwright-core (tests/e2e/package-lock.json).
command -v node >/dev/null || die "node is not installed (Node.js 20 or later is needed)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js 20 or later is needed, found $(node --version)"
lock_stamp="$(sha256sum "$e2e/package-lock.json" | cut -c1-16)"
if [ "$(cat "$e2e/node_modules/.e2e-stamp" 2>/dev/null)" != "$lock_stamp" ]; then
    say "installing tests/e2e dependencies (npm ci)"
    (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_stamp" >"$e2e/node_modules/.e2e-stamp"
fi

# 3. The XBlock virtualenv (the same one, and the same stamp, as scripts/test.sh).
venv="$root/.venv/xblock"
requirements="$root/xblock-widget/xblock/requirements-test.txt"
if ! "$venv/bin/python" -c 'import workbench, ibal_xblock' >/dev/null 2>&1; then
    say "creating the XBlock virtualenv $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" -e "$root/xblock-widget/xblock"
    cat "$requirements" "$root/xblock-widget/xblock/pyproject.toml" | sha256sum | cut -c1-16 >"$venv/.stamp"
fi
export XBLOCK_PYTHON="$venv/bin/python"

# 4. The widget, then the gateway that embeds it.
if [ "${E2E_SKIP_BUILD:-0}" != "1" ]; then
    say "building the widget"
    scripts/build-widget.sh
    say "building the gateway"
    cargo build -p ibal-gateway
fi
export IBAL_GATEWAY_BIN="${IBAL_GATEWAY_BIN:-$root/target/debug/ibal-gateway}"
[ -x "$IBAL_GATEWAY_BIN" ] || die "$IBAL_GATEWAY_BIN is missing"

# 5. The tests. Every process they start is listed in a pid file; whatever is still alive when this
#    script ends (the tests stop their processes themselves; this catches a killed node) is stopped.
rm -rf "$out"
mkdir -p "$out"
export E2E_OUTPUT_DIR="$out"
export E2E_PID_FILE="$out/.pids"
: >"$E2E_PID_FILE"
cleanup() {
    local pid
    while read -r pid; do
        [ -n "$pid" ] || continue
        # Each was started as the leader of a process group of its own: stop the group.
        if kill -0 -- "-$pid" 2>/dev/null; then
            say "stopping leftover process group $pid"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done <"$E2E_PID_FILE"
    rm -f "$E2E_PID_FILE"
}
trap cleanup EXIT

if [ "$#" -gt 0 ]; then
    files=()
    for f in "$@"; do files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
else
    files=("$e2e"/*.test.mjs)
fi
say "running ${#files[@]} test file(s); screenshots and logs in ${out#"$root"/}"
cd "$e2e"
limit="${E2E_TIMEOUT:-240}"
# In the background, so that this script can pass an interruption on (timeout sends it to the test
# runner and the test files, which stop their processes) instead of waiting for the run to end.
timeout --kill-after=10 "$limit" \
    node --test --test-reporter=spec --test-concurrency="${E2E_CONCURRENCY:-3}" "${files[@]}" &
runner=$!
interrupted() {
    trap - INT TERM
    say "interrupted; stopping the tests"
    kill -TERM "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
    exit 130
}
trap interrupted INT TERM
status=0
wait "$runner" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    say "the tests did not finish within $limit s"
fi
exit "$status"
