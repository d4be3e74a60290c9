"""Packaging: entry point, version, package data, and a wheel built from this folder alone."""

import importlib.metadata
import importlib.resources
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from xblock.core import XBlock
from xblock.exceptions import DisallowedFileError

import ibal_xblock
from ibal_xblock import IbalXBlock
from ibal_xblock.ibal_xblock import STYLE_PROMPTS

PROJECT = Path(__file__).resolve().parent.parent
DATA_FILES = (
    "templates/html/ibal_xblock.html",
    "templates/html/ibal_xblock_author.html",
    "static/js/src/ibal_xblock.js",
    "static/css/ibal_xblock.css",
    "public/relay.html",
    "public/relay.js",
)


OPENEDX_MODULES = (
    "__init__",
    "apps",
    "course_blocks",
    "edx_platform",
    "errors",
    "gateway_client",
    "indexer",
    "retirement",
    "signals",
    "tasks",
    "management/__init__",
    "management/commands/__init__",
    "management/commands/ibal_index",
)


def test_entry_point_is_registered():
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group="xblock.v1") if ep.name == "ibalxblock"]
    assert entry_point.value == "ibal_xblock:IbalXBlock"
    assert entry_point.load() is IbalXBlock
    assert entry_point.dist.name == "ibal-xblock"
    assert XBlock.load_class("ibalxblock") is IbalXBlock


def test_version():
    assert ibal_xblock.__version__ == "0.1.0"
    assert importlib.metadata.version("ibal-xblock") == ibal_xblock.__version__


def test_signing_dependencies_are_declared():
    # The chat ticket is signed with PyJWT over cryptography (both ship with Open edX).
    requires = importlib.metadata.requires("ibal-xblock")
    assert any(req.replace(" ", "").startswith("PyJWT[crypto]>=2.8") for req in requires), requires


def test_fields_and_settings_key():
    assert IbalXBlock.block_settings_key == "IbalXBlock"
    assert IbalXBlock.display_name.default == "IBAL Chat"
    assert IbalXBlock.welcome_message.default == "Click Start Chat to begin"
    assert IbalXBlock.assistant_instructions.default == ""
    assert IbalXBlock.assistant_instructions.runtime_options.get("multiline_editor") is True
    assert IbalXBlock.mode.default == "assistant"
    assert IbalXBlock.starters.default == ""
    assert IbalXBlock.tutor_style.default == "guide"
    assert IbalXBlock.style_prompt.default == STYLE_PROMPTS["guide"]
    assert IbalXBlock.disclosure.default == ""
    for name in ("assistant_instructions", "starters", "style_prompt", "disclosure"):
        assert IbalXBlock.fields[name].runtime_options.get("multiline_editor") is True
    for name in IbalXBlock.editable_fields:
        assert IbalXBlock.fields[name].scope.name == "settings"
    assert IbalXBlock.service_declaration("settings") == "need"
    # Group access of the unit's components is checked through it where the runtime has it.
    assert IbalXBlock.service_declaration("partitions") == "want"


@pytest.mark.parametrize("path", DATA_FILES)
def test_package_data_is_readable(path):
    assert importlib.resources.files("ibal_xblock").joinpath(path).read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("path", ["public/relay.html", "public/relay.js"])
def test_the_runtime_may_serve_the_relay_page(path):
    # What the LMS's and the workbench's resource views call: XBlock's own guard (public/ only).
    with IbalXBlock.open_local_resource(path) as resource:
        assert resource.read() == importlib.resources.files("ibal_xblock").joinpath(path).read_bytes()


@pytest.mark.parametrize(
    "path",
    ["static/js/src/ibal_xblock.js", "ibal_xblock.py", "public/../ibal_xblock.py", "templates/html/ibal_xblock.html"],
)
def test_the_runtime_serves_nothing_outside_public(path):
    with pytest.raises(DisallowedFileError):
        IbalXBlock.open_local_resource(path)


def test_wheel_built_from_this_folder_alone_contains_the_data(tmp_path):
    """What `pip install "ibal-xblock @ git+<repo>#subdirectory=xblock-widget/xblock"` builds."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "ibal_xblock", source / "ibal_xblock", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = out.glob("ibal_xblock-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("ibal_xblock-0.1.0.dist-info/entry_points.txt").decode()
    for path in DATA_FILES:
        assert f"ibal_xblock/{path}" in names
    for module in ("__init__", "config", "events", "ibal_xblock", "keys", "ticket", "unit_content"):
        assert f"ibal_xblock/{module}.py" in names
    # The Open edX plugin app and its management command.
    for module in OPENEDX_MODULES:
        assert f"ibal_xblock/openedx/{module}.py" in names
    assert not any(name.startswith("tests/") for name in names)
    assert "[xblock.v1]" in entry_points and "ibalxblock = ibal_xblock:IbalXBlock" in entry_points
    for group in ("[lms.djangoapp]", "[cms.djangoapp]"):
        section = entry_points.split(group, 1)[1].split("[", 1)[0]
        assert "ibal_openedx = ibal_xblock.openedx.apps:IbalOpenedxConfig" in section
