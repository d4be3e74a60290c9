# The two commands the README opens with, and a few more.
.PHONY: run test widget lint fmt migrate check

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
