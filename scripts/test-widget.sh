#!/usr/bin/env bash
# Tests the chat widget (crate ibal-widget, xblock-widget/):
#   1. host unit tests of the pure modules (state machine, protocol and JSON parsing, markdown, i18n,
#      backoff and close codes, token redaction, settings, SHA-256): `cargo test -p ibal-widget`;
#   2. browser tests (xblock-widget/tests/browser.rs): the widget mounted into a real DOM in headless
#      Chromium, with the gateway faked in the page: `cargo test -p ibal-widget --target wasm32-unknown-unknown`,
#      run by wasm-bindgen-test-runner (see .cargo/config.toml) through chromedriver;
#   3. the shipped package: scripts/build-widget.sh, then xblock-widget/pkg (optimised, as the gateway serves
#      it) imported and mounted the XBlock's way in headless Chromium (xblock-widget/tests/support/smoke.html).
# Installs what it needs when missing: the wasm32 target and wasm-bindgen-cli (into <repo>/.tools, via
# scripts/build-widget.sh --tools), and Debian's chromium + chromium-driver (apt-get).
# Ends with the suites' summaries; exits non-zero when a suite fails.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/widget}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '[test-widget] %s\n' "$*"; }
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Tools.
"$root/scripts/build-widget.sh" --tools || { say "could not install the wasm tools"; exit 1; }
if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing chromium and chromium-driver with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null ||
            { say "apt-get could not install chromium / chromium-driver"; exit 1; }
    else
        say "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
        exit 1
    fi
fi
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
# The browser's arguments (root needs --no-sandbox): read by wasm-bindgen-test-runner.
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="${WASM_BINDGEN_TEST_WEBDRIVER_JSON:-$root/xblock-widget/webdriver.json}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"

status=0
say "host unit tests: cargo test -p ibal-widget"
cargo test -p ibal-widget 2>&1 | tee "$logs/host.log"
host=${PIPESTATUS[0]}
[ "$host" -eq 0 ] || status=1

say "browser tests: cargo test -p ibal-widget --target wasm32-unknown-unknown (headless $(chromium --version 2>/dev/null || echo chromium))"
cargo test -p ibal-widget --target wasm32-unknown-unknown 2>&1 | tee "$logs/browser.log"
browser=${PIPESTATUS[0]}
[ "$browser" -eq 0 ] || status=1

say "package smoke test: scripts/build-widget.sh, then xblock-widget/pkg in headless Chromium"
package=1
package_result="not run"
browser_bin="$(command -v chromium || command -v chromium-browser)"
if "$root/scripts/build-widget.sh" >"$logs/build.log" 2>&1; then
    grep -A8 'xblock-widget/pkg (' "$logs/build.log"
    site="$logs/site"
    mkdir -p "$site"
    cp -r "$root/xblock-widget/pkg" "$site/pkg"
    cp "$root/xblock-widget/tests/support/smoke.html" "$site/index.html"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >"$logs/http.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    timeout 120 "$browser_bin" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --disable-background-networking --disable-component-update --disable-sync --no-first-run \
        --virtual-time-budget=15000 --dump-dom "http://127.0.0.1:$port/index.html" \
        >"$logs/dom.html" 2>"$logs/chromium.log"
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    package_result="$(sed -n '/<pre id="result">/,/<\/pre>/p' "$logs/dom.html" | sed 's/<[^>]*>//g')"
    printf '%s\n' "${package_result:-no result (see the Chromium log below)}"
    [ -n "$package_result" ] || tail -20 "$logs/chromium.log"
    case "$package_result" in PASSED*) package=0 ;; esac
    package_result="$(printf '%s' "$package_result" | head -1)"
else
    cat "$logs/build.log"
    package_result="build failed"
fi
[ "$package" -eq 0 ] || status=1

echo
say "summary"
summary() { # name, log, exit code
    local lines
    lines=$(grep -E '^test result:' "$2" | grep -v ' 0 passed; 0 failed' || true)
    printf '  %-8s %s\n' "$1" "${lines:-no test summary (exit code $3)}" | sed '2,$s/^/           /'
}
summary host "$logs/host.log" "$host"
summary browser "$logs/browser.log" "$browser"
printf '  %-8s %s\n' package "$package_result"
exit "$status"
