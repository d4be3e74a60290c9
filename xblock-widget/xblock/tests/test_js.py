"""The block's JavaScript (static/js/src/ibal_xblock.js), run in Node.js against a small fake DOM.

Fake widget modules in tests/js stand in for the wasm-bindgen output. Node.js is required: these
tests fail, rather than skip, without it.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")


def run(**options):
    assert NODE is not None, "Node.js is required for the XBlock's JavaScript tests (install nodejs)"
    result = subprocess.run(
        [NODE, str(JS_DIR / "harness.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def widget(name):
    return (JS_DIR / name).as_uri()


def assert_prefixed(outcome):
    assert outcome["logs"], "expected console output"
    for line in outcome["logs"]:
        assert line["text"].startswith("[IbalXBlock] "), line


def test_initializer_takes_three_arguments():
    # The XBlock JS runtimes only pass the initialize_js JSON to initialisers of arity 3.
    assert run(widget_url=widget("fake_widget_ok.mjs"))["arity"] == 3


@pytest.mark.parametrize("jquery", [False, True])
def test_imports_inits_and_mounts_the_widget(jquery):
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), jquery=jquery, args={"lang": "fr"})
    assert outcome["calls"] == ["init", "mount"]
    assert outcome["mountedOnMountPoint"] is True
    assert outcome["state"] == "mounted"
    assert outcome["children"] == []  # the "Loading" placeholder is removed before mount()
    settings = outcome["mountSettings"]
    assert settings["widget_url"] == widget("fake_widget_ok.mjs")
    assert settings["ws_url"] == "wss://chat.example.com/ws/chat/"
    assert settings["lang"] == "fr"
    assert set(settings) == {
        "gateway_url", "ws_url", "widget_url", "course_id", "usage_id",
        "display_name", "welcome_message", "assistant_instructions", "lang",
    }
    assert outcome["settingsIsCopy"] is True
    assert_prefixed(outcome)
    assert outcome["logs"][0]["text"].startswith("[IbalXBlock] Initializing")
    assert any("mounted" in line["text"] for line in outcome["logs"])


def test_import_failure_logs_and_shows_text_message():
    outcome = run(widget_url=widget("does_not_exist.mjs"), load_error="<b>Chat down</b> & out")
    assert_prefixed(outcome)
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert len(errors) == 1
    assert errors[0].startswith("[IbalXBlock] Failed to load chat widget: ")
    assert outcome["state"] == "failed"
    assert outcome["calls"] == []
    # One paragraph whose *text* is the message: markup is not interpreted.
    assert outcome["children"] == [
        {
            "tag": "p",
            "className": "ibal-xblock-error",
            "role": "alert",
            "text": "<b>Chat down</b> & out",
            "childCount": 0,
        }
    ]


def test_default_message_when_the_template_gave_none():
    outcome = run(widget_url=widget("does_not_exist.mjs"))
    assert outcome["children"][0]["text"].startswith("The chat could not be loaded.")


@pytest.mark.parametrize(
    ("module", "message", "calls"),
    [
        ("fake_widget_no_mount.mjs", "[IbalXBlock] Failed to load chat widget: ", []),
        ("fake_widget_init_fails.mjs", "[IbalXBlock] Failed to load chat widget: WebAssembly", []),
        ("fake_widget_mount_throws.mjs", "[IbalXBlock] Failed to start chat widget: bad settings", ["init"]),
    ],
)
def test_bad_widget_modules(module, message, calls):
    outcome = run(widget_url=widget(module), load_error="Chat unavailable")
    assert_prefixed(outcome)
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert outcome["state"] == "failed"
    assert outcome["calls"] == calls
    assert [child["text"] for child in outcome["children"]] == ["Chat unavailable"]


def test_missing_widget_url():
    outcome = run(widget_url=None, load_error="Chat unavailable")
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert errors and errors[0].startswith("[IbalXBlock] Failed to load chat widget: ")
    assert [child["text"] for child in outcome["children"]] == ["Chat unavailable"]


def test_missing_mount_point_is_logged():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), no_mount=True)
    assert_prefixed(outcome)
    assert outcome["calls"] == []
    assert any(line["level"] == "error" and "Mount point" in line["text"] for line in outcome["logs"])


def test_second_initialisation_does_not_mount_twice():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), calls=2)
    assert outcome["calls"] == ["init", "mount"]
    assert any("already initialized" in line["text"] for line in outcome["logs"])
