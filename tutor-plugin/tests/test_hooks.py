"""Hooks that the CLI only uses deep inside `launch`: checked in a fresh Tutor process."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import TutorProject

PROBE = """
import json
from tutor import hooks, plugins

hooks.Actions.CORE_READY.do()
plugins.load("llm")
print(json.dumps({
    "build_required": {
        context: hooks.Filters.IMAGES_BUILD_REQUIRED.apply([], context)
        for context in ("local", "dev")
    },
    "public_hosts": {
        context: hooks.Filters.APP_PUBLIC_HOSTS.apply([], context)
        for context in ("local", "dev")
    },
    "build": [[name, list(path), tag] for name, path, tag, _ in
              hooks.Filters.IMAGES_BUILD.iterate({})],
    "pull": [list(item) for item in hooks.Filters.IMAGES_PULL.iterate({})],
    "push": [list(item) for item in hooks.Filters.IMAGES_PUSH.iterate({})],
    "init_tasks": [
        service for service, _ in hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(
            hooks.Contexts.app("llm").name
        )
    ],
}))
"""


def test_launch_hooks(bare_project: TutorProject) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=bare_project.environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    hooks = json.loads(result.stdout.splitlines()[-1])
    # `tutor local launch` builds the gateway and the openedx image with the XBlock;
    # in dev, Tutor already builds openedx-dev.
    assert hooks["build_required"]["local"] == ["openedx", "llm"]
    assert hooks["build_required"]["dev"] == ["llm"]
    assert hooks["public_hosts"]["local"][-1] == "{{ LLM_HOST }}"
    assert hooks["public_hosts"]["dev"][-1] == "{{ LLM_HOST }}:{{ LLM_DEV_PORT }}"
    assert ["llm", ["plugins", "llm", "build", "llm"], "{{ LLM_DOCKER_IMAGE }}"] in hooks["build"]
    assert ["llm", "{{ LLM_DOCKER_IMAGE }}"] in hooks["pull"]
    assert ["llm", "{{ LLM_DOCKER_IMAGE }}"] in hooks["push"]
    assert hooks["init_tasks"] == ["mysql", "lms", "llm", "cms"]
