#!/usr/bin/env bash
# Builds the chat widget (crate ibal-widget, xblock-widget/) to WebAssembly, into xblock-widget/pkg/:
#   ibal_widget.js        the ES module (wasm-bindgen --target web; its default export is the init function)
#   ibal_widget_bg.wasm   the module's WebAssembly, size-optimised
#   ibal_widget.css       the widget's stylesheet (the widget links it from the module's folder)
#
# Installs what it needs when missing, asking nothing:
#   - the wasm32-unknown-unknown Rust target (rustup);
#   - wasm-bindgen-cli at exactly the wasm-bindgen version of Cargo.lock, into <repo>/.tools (cargo install);
#   - binaryen's wasm-opt, version 132 from npm (package binaryen) into <repo>/.tools/binaryen; without
#     Node.js and npm, Debian's binaryen (apt-get, when apt is usable: an older wasm-opt, a .wasm about
#     4 KB larger); otherwise the build goes on without it.
# Idempotent: when nothing changed it only checks and prints the sizes.
# `build-widget.sh --tools` installs the Rust target and wasm-bindgen-cli only (scripts/test-widget.sh uses it).
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

# Installed tools are not source: keep .tools/ out of git whatever the root .gitignore says.
mkdir -p "$tools"
[ -f "$tools/.gitignore" ] || printf '*\n' >"$tools/.gitignore"

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

if [ "${1:-}" = "--tools" ]; then
    say "tools ready: $(wasm-bindgen --version)"
    exit 0
fi

# 3. wasm-opt (optional). Binaryen 132 makes the .wasm 3.7 KB smaller than Debian 12's binaryen 108 with the
#    same passes (measured; e.g. 24 closure shims left of wasm-bindgen's 39, where 108 keeps all), and writes
#    the externref table's export right. The npm package is binaryen's own build of wasm-opt for Node.js;
#    pinned, so that every machine optimises alike (the budget is checked on its output).
binaryen_version="132.0.0"
wasm_opt=""
npm_opt="$tools/binaryen/node_modules/.bin/wasm-opt"
if command -v npm >/dev/null && command -v node >/dev/null; then
    if [ "$(cat "$tools/binaryen/version" 2>/dev/null)" != "$binaryen_version" ] || [ ! -x "$npm_opt" ]; then
        say "installing binaryen $binaryen_version (wasm-opt) with npm into $tools/binaryen"
        rm -rf "$tools/binaryen"
        mkdir -p "$tools/binaryen"
        if npm install --prefix "$tools/binaryen" --no-save --no-audit --no-fund --loglevel=error \
            "binaryen@$binaryen_version" >/dev/null; then
            echo "$binaryen_version" >"$tools/binaryen/version"
        else
            say "npm could not install binaryen $binaryen_version"
        fi
    fi
    if [ -x "$npm_opt" ] && "$npm_opt" --version >/dev/null 2>&1; then
        wasm_opt="$npm_opt"
    fi
fi
if [ -z "$wasm_opt" ] && ! command -v wasm-opt >/dev/null; then
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
if [ -z "$wasm_opt" ] && command -v wasm-opt >/dev/null; then
    wasm_opt="$(command -v wasm-opt)"
fi

# Checks that the `__wbindgen_externrefs` export of a .wasm names an externref table, repairing the
# export's table index in place when it names another table (one-byte indices only). Fails when the
# module cannot be read or repaired.
fix_externref_export() {
    command -v python3 >/dev/null || return 1
    python3 - "$1" <<'PY'
import sys

path = sys.argv[1]
data = bytearray(open(path, "rb").read())
if data[:8] != b"\0asm\1\0\0\0":
    sys.exit("not a wasm module")

def leb(pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos

sections = {}
pos = 8
while pos < len(data):
    sid = data[pos]
    size, body = leb(pos + 1)
    sections.setdefault(sid, []).append((body, body + size))
    pos = body + size

# Table types, imported tables first.
tables = []
for start, _ in sections.get(2, []):
    count, p = leb(start)
    for _ in range(count):
        n, p = leb(p); p += n
        n, p = leb(p); p += n
        kind = data[p]; p += 1
        if kind == 0:
            _, p = leb(p)
        elif kind == 1:
            tables.append(data[p]); p += 1
            flags = data[p]; p += 1
            _, p = leb(p)
            if flags & 1:
                _, p = leb(p)
        elif kind == 2:
            flags = data[p]; p += 1
            _, p = leb(p)
            if flags & 1:
                _, p = leb(p)
        elif kind == 3:
            p += 2
        else:
            sys.exit("unknown import kind")
for start, _ in sections.get(4, []):
    count, p = leb(start)
    for _ in range(count):
        tables.append(data[p]); p += 1
        flags = data[p]; p += 1
        _, p = leb(p)
        if flags & 1:
            _, p = leb(p)

EXTERNREF = 0x6F
for start, _ in sections.get(7, []):
    count, p = leb(start)
    for _ in range(count):
        n, p = leb(p)
        name = bytes(data[p:p + n]).decode(); p += n
        kind = data[p]; p += 1
        index_at = p
        index, p = leb(p)
        if kind != 1 or name != "__wbindgen_externrefs":
            continue
        if index < len(tables) and tables[index] == EXTERNREF:
            sys.exit(0)
        candidates = [i for i, t in enumerate(tables) if t == EXTERNREF]
        if len(candidates) != 1 or candidates[0] > 0x7F or p - index_at != 1:
            sys.exit("cannot repair the externref table export")
        data[index_at] = candidates[0]
        open(path, "wb").write(data)
        print("[build-widget] repaired the __wbindgen_externrefs export (table %d -> %d)" % (index, candidates[0]))
        sys.exit(0)
sys.exit(0)  # no externref table: nothing to check
PY
}

# Shortens the names the .wasm and its JS glue know each other by, in both files alike. wasm-bindgen names
# each import after its Rust path and a hash (`__wbg_toLocaleTimeString_a55d7d7c2aa1411b`, module
# "./ibal_widget_bg.js") and exports its closure shims likewise: about 6 KB of the .wasm was these names,
# now one or two letters each (import module "w", exports "$a", "$b"…). The glue is rewritten only where
# it names an import as an object key and an export as `wasm.<name>`, and only if it names each nowhere
# else; otherwise nothing is changed. Fails when python3 is missing or the files cannot be read.
shorten_names() {
    command -v python3 >/dev/null || return 1
    python3 - "$1" "$2" <<'PY'
import re
import string
import sys

wasm_path, js_path = sys.argv[1], sys.argv[2]
data = bytearray(open(wasm_path, "rb").read())
js = open(js_path, encoding="utf-8").read()
if data[:8] != b"\0asm\1\0\0\0":
    sys.exit("not a wasm module")

def leb(pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos

def write_leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)

def name(text):
    raw = text.encode()
    return write_leb(len(raw)) + raw

def skip_limits(pos):
    flags = data[pos]
    _, pos = leb(pos + 1)
    if flags & 1:
        _, pos = leb(pos)
    return pos

def sections():
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, body = leb(pos + 1)
        yield sid, pos, body, body + size
        pos = body + size

def occurrences(word):
    return len(re.findall(r'(?<![\w$])' + re.escape(word) + r'(?![\w$])', js))

def keep(reason):
    print("[build-widget] %s; names left as they are" % reason)
    sys.exit(0)

letters = string.ascii_letters
short_names = list(letters) + [a + b for a in letters for b in letters]

# The import section: (module, name, description) of each import.
imports = []
for sid, _, body, _ in sections():
    if sid != 2:
        continue
    count, p = leb(body)
    for _ in range(count):
        n, p = leb(p)
        module = data[p:p + n].decode(); p += n
        n, p = leb(p)
        field = data[p:p + n].decode(); p += n
        desc_start = p
        kind = data[p]; p += 1
        if kind == 0:
            _, p = leb(p)
        elif kind == 1:
            p = skip_limits(p + 1)
        elif kind == 2:
            p = skip_limits(p)
        elif kind == 3:
            p += 2
        else:
            sys.exit("unknown import kind")
        imports.append((module, field, bytes(data[desc_start:p])))

# The export section: (name, kind, index) of each export.
exports = []
for sid, _, body, _ in sections():
    if sid != 7:
        continue
    count, p = leb(body)
    for _ in range(count):
        n, p = leb(p)
        field = data[p:p + n].decode(); p += n
        kind = data[p]; p += 1
        index, p = leb(p)
        exports.append((field, kind, index))

modules = {m for m, _, _ in imports}
if len(modules) > 1:
    keep("imports from several modules")
import_names = {}
if imports:
    module_key = '"' + modules.pop() + '":'
    if js.count(module_key) != 1:
        keep("the glue names the import module other than once")
    for index, (_, field, _) in enumerate(imports):
        if occurrences(field) != 1 or not re.search(r'(?<![\w$])' + re.escape(field) + r':', js):
            keep("the glue names import %s other than once as a key" % field)
        import_names[field] = short_names[index]

# Exported functions the glue reaches as `wasm.<name>` only, never by a string or through another object
# (memory and tables keep their names). The glue may also have a JS function of the same name: that
# is its own identifier and stays.
export_names = {}
for field, kind, _ in exports:
    uses = len(re.findall(r'\bwasm\.' + re.escape(field) + r'(?![\w$])', js))
    accesses = len(re.findall(r'\.' + re.escape(field) + r'(?![\w$])', js))
    quoted = len(re.findall(r'["\'`]' + re.escape(field) + r'["\'`]', js))
    if kind == 0 and uses and uses == accesses and not quoted:
        export_names[field] = "$" + short_names[len(export_names)]
if any(name in {f for f, _, _ in exports} for name in export_names.values()):
    keep("a short export name is taken")

for field, short in import_names.items():
    js = re.sub(r'(?<![\w$])' + re.escape(field) + r':', short + ":", js)
if imports:
    js = js.replace(module_key, '"w":')
for field, short in export_names.items():
    js = re.sub(r'\bwasm\.' + re.escape(field) + r'(?![\w$])', "wasm." + short, js)

new_sections = {
    2: write_leb(len(imports)) + b"".join(name("w") + name(import_names[f]) + d for _, f, d in imports),
    7: write_leb(len(exports)) + b"".join(
        name(export_names.get(f, f)) + bytes([k]) + write_leb(i) for f, k, i in exports
    ),
}
# Rewrite from the end, so that earlier offsets stay valid.
for sid, start, _, end in sorted(sections(), key=lambda s: -s[1]):
    if sid in new_sections and (sid != 2 or imports):
        body = new_sections[sid]
        data[start:end] = bytes([sid]) + write_leb(len(body)) + body
open(wasm_path, "wb").write(data)
open(js_path, "w", encoding="utf-8").write(js)
PY
}

# 4. Build.
say "cargo build -p ibal-widget --target $target --profile $profile"
cargo build -p ibal-widget --lib --target "$target" --profile "$profile"
wasm_in="$CARGO_TARGET_DIR/$target/$profile/ibal_widget.wasm"
[ -f "$wasm_in" ] || die "the build produced no $wasm_in"

# 5. Bind, optimise, copy: skipped when the inputs and tools are the ones of the last run.
opt_version="$( [ -n "$wasm_opt" ] && "$wasm_opt" --version 2>/dev/null || echo none)"
stamp_file="$CARGO_TARGET_DIR/ibal-widget-pkg.stamp"
# This script is part of the stamp: a change to the pipeline rebuilds the package.
stamp="$(cat "$wasm_in" "$crate/static/ibal_widget.css" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-32) wasm-bindgen=$version wasm-opt=$opt_version"
if [ -f "$out/ibal_widget.js" ] && [ -f "$out/ibal_widget_bg.wasm" ] && [ -f "$out/ibal_widget.css" ] &&
    [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    say "xblock-widget/pkg is up to date"
else
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" --out-name ibal_widget "$wasm_in"
    if [ "$opt_version" != none ]; then
        say "wasm-opt --flatten --rereloop -Oz -Oz --converge --strip-producers ($opt_version)"
        # Measured with binaryen 132 on the widget: --flatten --rereloop (the control flow taken apart,
        # then rebuilt by binaryen's relooper, before -Oz) gives 1.2 KB less than -Oz alone (0.4 KB
        # gzipped); --converge repeats the passes while they still shrink the module; --strip-producers
        # drops the section naming the tools' versions (0.1 KB). The --enable flags: the WebAssembly
        # features rustc enables by default for wasm32-unknown-unknown.
        "$wasm_opt" --flatten --rereloop -Oz -Oz --converge --strip-producers \
            --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-reference-types --enable-multivalue \
            -o "$out.tmp/opt.wasm" "$out.tmp/ibal_widget_bg.wasm"
        # Binaryen up to 109 (Debian 12 ships 108) writes the export of wasm-bindgen's externref table
        # (`__wbindgen_externrefs`) with the index of the funcref table, and the module then fails to
        # start ("WebAssembly.Table.set(): Argument 1 is invalid"). Check the export, point it back at
        # the externref table if needed, and keep the unoptimised module if that is not possible.
        if fix_externref_export "$out.tmp/opt.wasm"; then
            mv "$out.tmp/opt.wasm" "$out.tmp/ibal_widget_bg.wasm"
        else
            say "wasm-opt output unusable (externref table export); keeping the wasm-bindgen output"
            rm -f "$out.tmp/opt.wasm"
        fi
    fi
    # On copies, so that the pair is replaced together or not at all.
    cp "$out.tmp/ibal_widget_bg.wasm" "$out.tmp/short.wasm"
    cp "$out.tmp/ibal_widget.js" "$out.tmp/short.js"
    if shorten_names "$out.tmp/short.wasm" "$out.tmp/short.js"; then
        mv "$out.tmp/short.wasm" "$out.tmp/ibal_widget_bg.wasm"
        mv "$out.tmp/short.js" "$out.tmp/ibal_widget.js"
    else
        say "could not shorten the import and export names; keeping wasm-bindgen's (a larger .wasm)"
        rm -f "$out.tmp/short.wasm" "$out.tmp/short.js"
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
