"""The service client of Studio and the LMS (course indexing, learner retirement): generated,
written into the Open edX settings, registered with the gateway by the init job, then a first
indexing of every course. Its secret goes only where it must: the Open edX settings, the init
job's environment and the Kubernetes Secret.

Secret values are never part of an assertion message.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import TutorProject
from .test_render import k8s_object, k8s_secret, llm_settings_blocks

CLIENTS_ENSURE = [
    "clients",
    "ensure",
    "--client-id",
    "ibal-openedx",
    "--secret-env",
    "IBAL_SERVICE_CLIENT_SECRET",
    "--name",
    "Open edX course indexing and retirement",
    "--grant",
    "client_credentials",
    "--scope",
    "index",
    "--scope",
    "retirement",
]


def init_scripts(project: TutorProject) -> dict[str, str]:
    project.tutor("local", "do", "init-llm")
    return dict(project.job_scripts())


def fake_command(folder: Path, name: str, status: int) -> Path:
    """An executable that records its arguments, and whether IBAL_SERVICE_CLIENT_SECRET is set."""
    log = folder / f"{name}.calls"
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        f'if [ -n "$IBAL_SERVICE_CLIENT_SECRET" ]; then echo secret-set >> "{log}"; fi\n'
        f"exit {status}\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def run_script(script: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What Tutor does with a task: `sh -e -c SCRIPT` in the job container (here, in `folder`)."""
    return subprocess.run(
        ["sh", "-e", "-c", script],
        cwd=folder,
        env={"PATH": f"{folder}{os.pathsep}/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_client_id_and_a_generated_secret(project: TutorProject) -> None:
    config = project.config()
    secret = config["LLM_SERVICE_CLIENT_SECRET"]
    assert isinstance(secret, str)
    assert len(secret) == 32
    assert "LLM_SERVICE_CLIENT_ID" not in config  # a default, until the operator sets one
    project.save()
    assert project.config()["LLM_SERVICE_CLIENT_SECRET"] == secret


@pytest.mark.parametrize("service", ["lms", "cms"])
@pytest.mark.parametrize("filename", ["production.py", "development.py"])
def test_the_openedx_settings_hold_the_client(
    project: TutorProject, service: str, filename: str
) -> None:
    project.save("LLM_SERVICE_CLIENT_ID=my-openedx")
    settings = project.env_text("apps", "openedx", "settings", service, filename)
    namespace: dict[str, dict[str, dict[str, str]]] = {"XBLOCK_SETTINGS": {}}
    for block in llm_settings_blocks(settings):
        exec(block, namespace)
    bucket = namespace["XBLOCK_SETTINGS"]["IbalXBlock"]
    assert bucket["SERVICE_URL"] == "http://llm:8000"
    assert bucket["SERVICE_CLIENT_ID"] == "my-openedx"
    matches = bucket["SERVICE_CLIENT_SECRET"] == project.config()["LLM_SERVICE_CLIENT_SECRET"]
    assert matches, "SERVICE_CLIENT_SECRET"


def test_the_init_job_registers_the_client_without_the_secret_on_the_command_line(
    project: TutorProject, tmp_path: Path
) -> None:
    secret = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    script = init_scripts(project)["llm-job"]
    assert secret not in script
    calls = fake_command(tmp_path, "ibal-gateway", 0)
    result = run_script(script, tmp_path, {"IBAL_SERVICE_CLIENT_SECRET": secret})
    assert result.returncode == 0, result.stderr
    lines = calls.read_text(encoding="utf-8").splitlines()
    assert lines == ["migrate", "secret-set", " ".join(CLIENTS_ENSURE), "secret-set"]


def gateway_binary() -> Path:
    """The real gateway: IBAL_GATEWAY_BIN, by default the workspace's debug build (scripts/test.sh
    builds it)."""
    default = Path(__file__).resolve().parents[2] / "target" / "debug" / "ibal-gateway"
    path = Path(os.environ.get("IBAL_GATEWAY_BIN") or default)
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no gateway at {path}: run `cargo build -p ibal-gateway` or set IBAL_GATEWAY_BIN"
        )
    return path


def test_the_init_job_runs_with_the_real_gateway_and_again(
    project: TutorProject, tmp_path: Path
) -> None:
    # The rendered commands against the real CLI: the client is registered, then left as it is.
    secret = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    assert isinstance(secret, str)
    script = init_scripts(project)["llm-job"]
    (tmp_path / "ibal-gateway").symlink_to(gateway_binary())
    env = {
        "DATABASE_URL": f"sqlite://{tmp_path}/ibal.db",
        "SECRET_KEY": "s" * 40,
        "IBAL_SERVICE_CLIENT_SECRET": secret,
    }
    first = run_script(script, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert "client ibal-openedx created" in first.stdout
    again = run_script(script, tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert "client ibal-openedx unchanged" in again.stdout
    assert secret not in first.stdout + first.stderr + again.stdout + again.stderr


def test_a_client_id_is_one_shell_word(project: TutorProject, tmp_path: Path) -> None:
    project.save("LLM_SERVICE_CLIENT_ID=ibal $(touch pwned) 'x'")
    script = init_scripts(project)["llm-job"]
    calls = fake_command(tmp_path, "ibal-gateway", 0)
    assert run_script(script, tmp_path, {}).returncode == 0
    assert "--client-id ibal $(touch pwned) 'x' --secret-env" in calls.read_text(encoding="utf-8")
    assert not (tmp_path / "pwned").exists()


def test_the_init_job_environment_carries_the_secret(project: TutorProject) -> None:
    secret = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    jobs = project.env_yaml("local", "docker-compose.jobs.yml")["services"]
    assert jobs["llm-job"]["environment"]["IBAL_SERVICE_CLIENT_SECRET"] == secret, "compose job"
    # Kubernetes: in the Secret, which the Job names.
    matches = k8s_secret(project)["IBAL_SERVICE_CLIENT_SECRET"] == secret
    assert matches, "the Secret does not hold IBAL_SERVICE_CLIENT_SECRET"
    (container,) = k8s_object(project, "jobs.yml", "Job", "llm-job")["spec"]["template"]["spec"][
        "containers"
    ]
    (entry,) = [item for item in container["env"] if item["name"] == "IBAL_SERVICE_CLIENT_SECRET"]
    assert entry == {
        "name": "IBAL_SERVICE_CLIENT_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "llm-secrets", "key": "IBAL_SERVICE_CLIENT_SECRET"}},
    }


def test_after_the_gateway_studio_indexes_every_course(
    project: TutorProject, tmp_path: Path
) -> None:
    script = init_scripts(project)["cms-job"]
    calls = fake_command(tmp_path, "manage.py", 0)
    result = run_script(script, tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert calls.read_text(encoding="utf-8").splitlines() == ["cms ibal_index --all"]
    assert "WARNING" not in result.stderr


def test_a_failed_indexing_warns_and_the_initialisation_goes_on(
    project: TutorProject, tmp_path: Path
) -> None:
    script = init_scripts(project)["cms-job"] + "\necho initialisation-goes-on"
    fake_command(tmp_path, "manage.py", 1)
    result = run_script(script, tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "initialisation-goes-on"
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("WARNING: the IBAL course index could not be filled now;")
    assert "tutor local do init-llm" in warning


def forms(value: str) -> list[str]:
    return [
        value,
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode(),
        json.dumps(value),
    ]


#: The rendered files that must hold the service client's secret, and why.
ALLOWED = {
    # XBLOCK_SETTINGS of Studio and the LMS, like the chat ticket key.
    "apps/openedx/settings/lms/production.py",
    "apps/openedx/settings/lms/development.py",
    "apps/openedx/settings/cms/production.py",
    "apps/openedx/settings/cms/development.py",
    # The init job's environment: compose keeps values inline; in Kubernetes, the Secret.
    "local/docker-compose.jobs.yml",
    "plugins/llm/k8s/secrets.yml",
}


def test_the_secret_appears_nowhere_else(project: TutorProject) -> None:
    secret = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    env_root = project.root / "env"
    holding = sorted(
        str(path.relative_to(env_root))
        for path in env_root.rglob("*")
        if path.is_file()
        and any(
            form in path.read_text(encoding="utf-8", errors="replace") for form in forms(secret)
        )
    )
    assert set(holding) <= ALLOWED, holding
    assert {"local/docker-compose.jobs.yml", "plugins/llm/k8s/secrets.yml"} <= set(holding)
    # In the jobs file, only the gateway's init job has it.
    jobs = project.env_yaml("local", "docker-compose.jobs.yml")["services"]
    for name, service in jobs.items():
        if name != "llm-job":
            assert not any(form in json.dumps(service) for form in forms(secret)), name
    # Nor do the rendered init scripts, nor the gateway's own environment.
    for service, script in init_scripts(project).items():
        assert not any(form in script for form in forms(secret)), service
    gateway = project.env_yaml("local", "docker-compose.yml")["services"]["llm"]["environment"]
    assert "IBAL_SERVICE_CLIENT_SECRET" not in gateway
