#!/usr/bin/env bash
# Lint, type-check and test the Tutor plugin "llm".
#
#   tutor-plugin/run-tests.sh [PYTHON]
#
# PYTHON is the interpreter of a virtualenv where requirements-test.txt and this plugin
# are installed (default: /work/main/.venv/tutor/bin/python). Runs ruff (lint and format), mypy --strict
# and pytest; pytest runs last, so its summary line ("N passed") ends the output. Exits
# non-zero if any of them fails.
set -uo pipefail

python="${1:-$(cd "$(dirname "$0")/.." && pwd)/.venv/tutor/bin/python}"
cd "$(dirname "$0")" || exit 2

if ! "$python" -c "import tutorllm, tutor" 2>/dev/null; then
    echo "run-tests.sh: $python cannot import tutor and tutorllm; create the venv with:" >&2
    echo "  python3.11 -m venv VENV && VENV/bin/pip install -r tutor-plugin/requirements-test.txt -e tutor-plugin" >&2
    exit 2
fi

status=0
echo "== ruff check"
"$python" -m ruff check . || status=1
echo "== ruff format --check"
"$python" -m ruff format --check . || status=1
echo "== mypy --strict"
"$python" -m mypy --strict tutorllm || status=1
echo "== pytest"
"$python" -m pytest -q -p no:cacheprovider tests || status=1
exit "$status"
