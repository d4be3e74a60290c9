"""Run one of the Node.js harnesses in tests/js/ and read the JSON it prints."""

import json
import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")


def run_harness(script: str, options: dict):
    """Run ``tests/js/<script>`` with ``options`` as its argument; fail (never skip) without Node.js."""
    assert NODE is not None, "Node.js is required for the XBlock's JavaScript tests (install nodejs)"
    result = subprocess.run(
        [NODE, str(JS_DIR / script), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
