#!/usr/bin/env bash
# Builds the chat widget (crate ibal-widget, xblock-widget/) to WebAssembly, into xblock-widget/pkg/:
#   ibal_widget.js        the ES module (wasm-bindgen --target web; its default export is the init function)
#   ibal_widget_bg.wasm   the module's WebAssembly, size-optimised
#   ibal_widget.css       the widget's stylesheet (the widget links it from the module's folder)
#
# Installs what it needs when missing, asking nothing:
#   - the wasm32-unknown-unknown Rust target (rustup);
#   - wasm-bindgen-cli at exactly the wasm-bindgen version of Cargo.lock, into <repo>/.tools (cargo install);
#   - binaryen's wasm-opt (apt-get, when apt is usable; otherwise the build goes on without it).
# Idempotent: when nothing changed it only checks and prints the sizes.
#
# Environment: CARGO_TARGET_DIR (default <repo>/target/widget, apart from the gateway's builds),
# WIDGET_SIZE_CHECK=0 to report an over-budget build without failing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="$root/.tools"
crate="$root/xblock-widget"
out="$crate/pkg"
profile="wasm-release"
target="wasm32-unknown-unknown"
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/widget}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Budgets (bytes): the raw .wasm, and the gzipped .wasm + .js a browser downloads.
max_wasm=$((150 * 1024))
max_gzip=$((80 * 1024))

say() { printf '[build-widget] %s\n' "$*"; }
die() { printf '[build-widget] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"

# 1. The Rust target.
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    say "installing the Rust target $target"
    rustup target add "$target"
fi

# 2. wasm-bindgen-cli, at the version of the wasm-bindgen crate in Cargo.lock (the CLI and the crate
#    must match exactly).
[ -f Cargo.lock ] || cargo generate-lockfile
version="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)"
[ -n "$version" ] || die "no wasm-bindgen package in Cargo.lock"
installed="$("$tools/bin/wasm-bindgen" --version 2>/dev/null | awk '{ print $2 }' || true)"
if [ "$installed" != "$version" ]; then
    say "installing wasm-bindgen-cli $version into $tools (a few minutes, once)"
    if ! cargo install --locked --root "$tools" wasm-bindgen-cli --version "=$version"; then
        # Happens when a dependency locked by wasm-bindgen-cli's own Cargo.lock was yanked or is
        # missing from the registry mirror; the CLI itself is still the exact version.
        say "cargo install --locked failed; retrying with freshly resolved dependencies"
        cargo install --root "$tools" wasm-bindgen-cli --version "=$version"
    fi
fi

# 3. wasm-opt (optional).
if ! command -v wasm-opt >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing binaryen (wasm-opt) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends binaryen >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends binaryen >/dev/null 2>&1; } ||
            say "could not install binaryen; continuing without wasm-opt (a larger .wasm)"
    else
        say "wasm-opt not found and apt-get is not usable here; continuing without it (a larger .wasm)"
    fi
fi

# 4. Build.
say "cargo build -p ibal-widget --target $target --profile $profile"
cargo build -p ibal-widget --lib --target "$target" --profile "$profile"
wasm_in="$CARGO_TARGET_DIR/$target/$profile/ibal_widget.wasm"
[ -f "$wasm_in" ] || die "the build produced no $wasm_in"

# 5. Bind, optimise, copy: skipped when the inputs and tools are the ones of the last run.
opt_version="$(wasm-opt --version 2>/dev/null || echo none)"
stamp_file="$CARGO_TARGET_DIR/ibal-widget-pkg.stamp"
stamp="$(cat "$wasm_in" "$crate/static/ibal_widget.css" | sha256sum | cut -c1-32) wasm-bindgen=$version wasm-opt=$opt_version"
if [ -f "$out/ibal_widget.js" ] && [ -f "$out/ibal_widget_bg.wasm" ] && [ -f "$out/ibal_widget.css" ] &&
    [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    say "xblock-widget/pkg is up to date"
else
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" --out-name ibal_widget "$wasm_in"
    if [ "$opt_version" != none ]; then
        # The WebAssembly features rustc enables by default for wasm32-unknown-unknown.
        say "wasm-opt -Oz ($opt_version)"
        wasm-opt -Oz \
            --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-reference-types --enable-multivalue \
            -o "$out.tmp/opt.wasm" "$out.tmp/ibal_widget_bg.wasm"
        mv "$out.tmp/opt.wasm" "$out.tmp/ibal_widget_bg.wasm"
    fi
    cp "$crate/static/ibal_widget.css" "$out.tmp/ibal_widget.css"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    echo "$stamp" >"$stamp_file"
fi

# 6. Sizes.
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
wasm_raw=$(size "$out/ibal_widget_bg.wasm")
js_raw=$(size "$out/ibal_widget.js")
css_raw=$(size "$out/ibal_widget.css")
wasm_gz=$(gz "$out/ibal_widget_bg.wasm")
js_gz=$(gz "$out/ibal_widget.js")
css_gz=$(gz "$out/ibal_widget.css")
total_gz=$((wasm_gz + js_gz))
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
echo
say "xblock-widget/pkg ($( [ "$opt_version" = none ] && echo "no wasm-opt" || echo "wasm-opt -Oz"), profile $profile):"
printf '  %-22s %10s raw %10s gzipped\n' \
    ibal_widget_bg.wasm "$(kb "$wasm_raw")" "$(kb "$wasm_gz")" \
    ibal_widget.js "$(kb "$js_raw")" "$(kb "$js_gz")" \
    ibal_widget.css "$(kb "$css_raw")" "$(kb "$css_gz")"
printf '  %-22s %10s     %10s gzipped (budget %s)\n' "wasm + js" "" "$(kb "$total_gz")" "$(kb "$max_gzip")"
printf '  %-22s %10s raw (budget %s)\n' "wasm" "$(kb "$wasm_raw")" "$(kb "$max_wasm")"

over=0
[ "$wasm_raw" -le "$max_wasm" ] || { say "OVER BUDGET: the .wasm is $(kb "$wasm_raw") (max $(kb "$max_wasm"))"; over=1; }
[ "$total_gz" -le "$max_gzip" ] || { say "OVER BUDGET: wasm + js gzipped is $(kb "$total_gz") (max $(kb "$max_gzip"))"; over=1; }
if [ "$over" = 1 ] && [ "${WIDGET_SIZE_CHECK:-1}" != 0 ]; then
    exit 3
fi
