#!/usr/bin/env bash
# Start the xblock-sdk workbench with the IBAL XBlock (for manual and end-to-end tests).
# Usage: [GATEWAY_URL=http://127.0.0.1:8080] [WS_URL=…] [WIDGET_VERSION=…] \
#        [TICKET_PRIVATE_KEY=<PEM>] [TICKET_ISSUER=…] [TICKET_KEY_ID=…] [TICKET_TTL=…] [SIGN_IN=popup|lms] \
#        run-workbench.sh [python] [addr:port]
# The chat starts only with GATEWAY_URL, TICKET_PRIVATE_KEY and TICKET_ISSUER (tests/workbench_settings.py).
# Defaults: /work/main/.venv/xblock/bin/python, 127.0.0.1:8000. State lives in $IBAL_WORKBENCH_VAR_DIR.
set -euo pipefail

PYTHON="${1:-/work/main/.venv/xblock/bin/python}"
ADDR="${2:-127.0.0.1:8000}"
cd "$(dirname "$0")"

export DJANGO_SETTINGS_MODULE=tests.workbench_settings
"$PYTHON" -m django migrate --run-syncdb --verbosity 0
echo "IBAL workbench on http://$ADDR/ (GATEWAY_URL=${GATEWAY_URL:-<unset>})"
exec "$PYTHON" -m django runserver --noreload "$ADDR"
