# The two commands the README opens with, and a few more.
.PHONY: run test lint fmt migrate check

# Run the gateway on its embedded defaults: SQLite under ./data, room chat, local accounts.
run:
	cargo run -p ibal-gateway -- serve

# Every test: Rust on SQLite + MariaDB + PostgreSQL, the XBlock, the Tutor plugin.
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
