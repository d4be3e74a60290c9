"""Kubernetes: the gateway's secret settings live in the Secret "llm-secrets", never in the
Deployment or the Job, which read them with valueFrom.secretKeyRef.

Secret values are never part of an assertion message: failures name the setting, not its value.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import typing as t
from urllib.parse import quote

import pytest
import yaml

from .conftest import TutorProject
from .test_render import (
    SECRET_FILE,
    SECRET_NAME,
    compose_env,
    compose_service,
    container_env,
    differing,
    k8s_object,
    k8s_secret,
)

SECRET_ENTRIES = {
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "OPENEDX_CLIENT_SECRET",
    "FLOWISE_API_KEY",
    "OPENAI_API_KEY",
    "UPSTREAM_WS_URL",
}
#: Only the init job reads it (to register the service client of Studio and the LMS).
JOB_SECRET_ENTRIES = {"IBAL_SERVICE_CLIENT_SECRET"}


def configured_with_every_secret(project: TutorProject) -> dict[str, str]:
    """Sets every secret setting to a fresh value; returns them by name (with Tutor's own)."""
    chosen = {
        "LLM_OPENAI_API_KEY": "sk-" + secrets.token_hex(16),
        "LLM_FLOWISE_API_KEY": "fl-" + secrets.token_hex(16),
        "REDIS_PASSWORD": "rp-" + secrets.token_hex(12),
        "LLM_UPSTREAM_WS_URL": f"wss://chat:{secrets.token_hex(12)}@upstream.example.com/ws",
    }
    project.save(
        "LLM_CHAT_BACKEND=openai",
        "LLM_OPENAI_BASE_URL=http://ollama:11434/v1",
        *(f"{name}={value}" for name, value in chosen.items()),
    )
    config = project.config()
    for name in (
        "LLM_SECRET_KEY",
        "LLM_OAUTH_CLIENT_SECRET",
        "LLM_MYSQL_PASSWORD",
        "LLM_SERVICE_CLIENT_SECRET",
    ):
        chosen[name] = config[name]
    return chosen


def forms(value: str) -> list[str]:
    """The ways a value could be written into a manifest: as is, URL-quoted, base64."""
    return [value, quote(value, safe=""), base64.b64encode(value.encode()).decode()]


def leaked(text: str, values: dict[str, str]) -> list[str]:
    """Names of the values that appear in `text` in any form."""
    return sorted(name for name, value in values.items() if any(f in text for f in forms(value)))


def pod_containers(document: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    containers = document["spec"]["template"]["spec"]["containers"]
    assert isinstance(containers, list)
    return containers


def test_no_secret_value_in_the_deployment_or_the_job(project: TutorProject) -> None:
    values = configured_with_every_secret(project)
    for filename in ("deployments.yml", "jobs.yml"):
        text = project.env_text("k8s", filename)
        assert not leaked(text, values), f"k8s/{filename} holds secret values"
    # Kubernetes manifests: nothing of ours anywhere else in env/k8s either.
    for path in sorted((project.root / "env" / "k8s").glob("*.yml")):
        assert not leaked(path.read_text(encoding="utf-8"), values), f"{path.name} holds secrets"


def test_the_secret_holds_them_and_the_pods_read_them_from_it(project: TutorProject) -> None:
    configured_with_every_secret(project)
    secret = k8s_object(project, SECRET_FILE, "Secret", SECRET_NAME)
    assert secret["apiVersion"] == "v1"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/name": "llm"}
    assert "stringData" not in secret
    data = k8s_secret(project)
    assert set(data) == SECRET_ENTRIES | JOB_SECRET_ENTRIES
    # The same values docker compose gets inline (there, `$` is doubled for compose).
    inline = {name: value.replace("$$", "$") for name, value in compose_env(project).items()}
    job_inline = compose_service(project, "llm-job", "local", "docker-compose.jobs.yml")
    inline_job_env = {k: v.replace("$$", "$") for k, v in job_inline["environment"].items()}
    assert not differing(data, {name: inline_job_env[name] for name in set(data)})

    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    job = k8s_object(project, "jobs.yml", "Job", "llm-job")
    for what, document, names in (
        ("Deployment llm", deployment, SECRET_ENTRIES),
        ("Job llm-job", job, SECRET_ENTRIES | JOB_SECRET_ENTRIES),
    ):
        (container,) = pod_containers(document)
        by_name = {item["name"]: item for item in container["env"]}
        for name in names:
            entry = by_name[name]
            assert "value" not in entry, f"{what}: {name} is written in"
            assert entry["valueFrom"] == {"secretKeyRef": {"name": SECRET_NAME, "key": name}}, what
        plain = {name for name, entry in by_name.items() if "value" in entry}
        assert plain.isdisjoint(SECRET_ENTRIES | JOB_SECRET_ENTRIES), what
        assert "envFrom" not in container, what
        # What the container ends up with is the whole gateway environment, as in compose.
        env = container_env(container, data)
        expected = dict(inline)
        if what.startswith("Job"):
            expected = dict(inline_job_env)
        else:
            expected["AUTO_MIGRATE"] = "false"
            # The gateway server never gets the service client's secret.
            assert JOB_SECRET_ENTRIES.isdisjoint(by_name), what
        assert not differing(env, expected), what


def test_unset_optional_secrets_are_left_out(project: TutorProject) -> None:
    # The room backend: no API keys, no upstream; the Deployment names no key the Secret lacks.
    data = k8s_secret(project)
    assert set(data) == {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "OPENEDX_CLIENT_SECRET",
        "IBAL_SERVICE_CLIENT_SECRET",
    }
    for kind, filename, name, expected in (
        ("Deployment", "deployments.yml", "llm", set(data) - JOB_SECRET_ENTRIES),
        ("Job", "jobs.yml", "llm-job", set(data)),
    ):
        (container,) = pod_containers(k8s_object(project, filename, kind, name))
        refs = {
            item["valueFrom"]["secretKeyRef"]["key"]
            for item in container["env"]
            if "valueFrom" in item
        }
        assert refs == expected, name


def test_changing_a_secret_rolls_the_deployment_out(project: TutorProject) -> None:
    def pod_annotation() -> str:
        deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
        value = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/llm-secrets"]
        assert isinstance(value, str)
        return value

    first = pod_annotation()
    assert len(first) == 64
    project.save("LLM_REPLICAS=2")  # not a secret: the pods' template keeps its digest
    assert pod_annotation() == first
    project.save(f"LLM_OPENAI_API_KEY=sk-{secrets.token_hex(16)}")
    second = pod_annotation()
    assert second != first
    project.save(f"LLM_OAUTH_CLIENT_SECRET={secrets.token_hex(16)}")
    assert pod_annotation() not in (first, second)


def test_compose_keeps_the_values_inline(project: TutorProject) -> None:
    # docker compose is unchanged: Tutor's local services take their settings inline.
    env = compose_env(project)
    assert SECRET_ENTRIES - {"FLOWISE_API_KEY", "OPENAI_API_KEY", "UPSTREAM_WS_URL"} <= set(env)
    assert env["DATABASE_URL"].startswith("mysql://llm:")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kustomize_builds_the_secret_into_the_namespace(project: TutorProject) -> None:
    """What `tutor k8s start` applies (`kubectl apply --kustomize env`), built offline."""
    assert KUBECTL is not None
    values = configured_with_every_secret(project)
    result = subprocess.run(
        [KUBECTL, "kustomize", str(project.root / "env")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # kubectl's messages name files and fields, not values.
    assert result.returncode == 0, result.stderr
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (secret,) = [
        d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == SECRET_NAME
    ]
    assert secret["metadata"]["namespace"] == "openedx"
    assert secret["metadata"]["labels"]["app.kubernetes.io/name"] == "llm"
    assert set(secret["data"]) == SECRET_ENTRIES | JOB_SECRET_ENTRIES
    for kind, name in (("Deployment", "llm"), ("Job", "llm-job")):
        (document,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
        assert document["metadata"]["namespace"] == "openedx"
        assert not leaked(yaml.safe_dump(document), values), f"{kind} {name} holds secret values"
