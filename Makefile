# The two commands the README opens with, and a few more.
.PHONY: run test widget lint fmt migrate check bench

# Run the gateway on its embedded defaults: SQLite under ./data, room chat, local accounts.
# The widget is built first when it can be (its tools install themselves once); the gateway embeds it.
run:
	WIDGET_SIZE_CHECK=0 ./scripts/build-widget.sh || echo "make run: the widget could not be built; serving without it"
	cargo run -p ibal-gateway -- serve

# The chat widget (Rust → WASM) into xblock-widget/pkg.
widget:
	./scripts/build-widget.sh

# Every test: Rust on SQLite + MariaDB + PostgreSQL, the widget in headless Chromium, the XBlock, the Tutor plugin.
test:
	./scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

migrate:
	cargo run -p ibal-gateway -- migrate

check:
	cargo run -p ibal-gateway -- check

# Benchmarks: the release gateway against baselines measured in the same run, on loopback.
# Prints the table and writes it to bench/RESULTS.md. Needs sqlite3 (and psql for the PostgreSQL row).
bench:
	CARGO_TARGET_DIR=$(CURDIR)/target cargo build --release -p ibal-gateway -p ibal-bench
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; $(CURDIR)/target/release/ibal-bench --out bench/RESULTS.md
