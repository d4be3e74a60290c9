"""Fixtures: a throw-away Tutor project per test, driven through the real `tutor` CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml


def _tutor_executable() -> str:
    # The `tutor` script of the virtualenv that runs the tests.
    candidate = Path(sys.executable).with_name("tutor")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("tutor")
    if found is None:
        raise RuntimeError("the tutor command is not installed next to " + sys.executable)
    return found


TUTOR = _tutor_executable()


class TutorProject:
    """A Tutor project root (TUTOR_ROOT) in a temporary folder."""

    def __init__(self, base: Path) -> None:
        self.root = base / "tutor-root"
        self.plugins_root = base / "tutor-plugins"
        self.bin = base / "bin"
        self.docker_log = base / "docker-calls.jsonl"
        for folder in (self.root, self.plugins_root, self.bin):
            folder.mkdir()
        # Nothing from the developer's own Tutor setup may leak into the test.
        self.environ = {k: v for k, v in os.environ.items() if not k.startswith("TUTOR_")}
        self.environ.update(
            {
                "TUTOR_ROOT": str(self.root),
                "TUTOR_PLUGINS_ROOT": str(self.plugins_root),
                "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
                "FAKE_DOCKER_LOG": str(self.docker_log),
            }
        )
        self._install_fake_docker()

    def _install_fake_docker(self) -> None:
        """A `docker` that records its arguments instead of running containers.

        `tutor local do ...` then goes through Tutor's real job machinery, and the
        test can read exactly which job service ran which rendered script.
        """
        script = self.bin / "docker"
        script.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "with open(os.environ['FAKE_DOCKER_LOG'], 'a', encoding='utf-8') as log:\n"
            "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
            "if 'ls' in sys.argv[1:]:\n"
            "    print('[]')\n",
            encoding="utf-8",
        )
        script.chmod(0o755)

    def tutor(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [TUTOR, *args],
            env=self.environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tutor {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def save(self, *settings: str) -> None:
        """`tutor config save [--set KEY=VALUE ...]`"""
        args = ["config", "save"]
        for setting in settings:
            args += ["--set", setting]
        self.tutor(*args)

    def config(self) -> dict[str, t.Any]:
        loaded = yaml.safe_load((self.root / "config.yml").read_text(encoding="utf-8"))
        assert isinstance(loaded, dict)
        return loaded

    def env_text(self, *path: str) -> str:
        return (self.root / "env").joinpath(*path).read_text(encoding="utf-8")

    def env_yaml(self, *path: str) -> t.Any:
        return yaml.safe_load(self.env_text(*path))

    def env_yaml_all(self, *path: str) -> list[t.Any]:
        return [doc for doc in yaml.safe_load_all(self.env_text(*path)) if doc]

    def docker_calls(self) -> list[list[str]]:
        if not self.docker_log.exists():
            return []
        lines = self.docker_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def job_scripts(self) -> list[tuple[str, str]]:
        """(job service, script) of every `docker compose run ... sh -e -c SCRIPT`."""
        jobs = []
        for call in self.docker_calls():
            if "run" in call and call[-4:-1] == ["sh", "-e", "-c"]:
                jobs.append((call[-5], call[-1]))
        return jobs


@pytest.fixture
def bare_project(tmp_path: Path) -> TutorProject:
    """A project where nothing has been run yet."""
    return TutorProject(tmp_path)


@pytest.fixture
def project(bare_project: TutorProject) -> TutorProject:
    """The documented first steps: `tutor plugins enable llm` then `tutor config save`."""
    bare_project.tutor("plugins", "enable", "llm")
    bare_project.save()
    return bare_project
