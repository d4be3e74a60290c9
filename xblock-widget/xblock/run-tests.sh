#!/usr/bin/env bash
# Lint and test the IBAL XBlock package.
# Usage: run-tests.sh [python]   (default: /work/main/.venv/xblock/bin/python)
# The venv must have requirements-test.txt and this package installed (pip install -e).
set -euo pipefail

PYTHON="${1:-$(cd "$(dirname "$0")/../.." && pwd)/.venv/xblock/bin/python}"
cd "$(dirname "$0")"

if [ ! -x "$PYTHON" ]; then
    echo "run-tests.sh: no Python at $PYTHON (create the venv first, see README.md)" >&2
    exit 2
fi

"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m pytest -q
