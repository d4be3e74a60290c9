"""`tutor local do init-llm` and the init tasks, run through Tutor's real job machinery.

A fake `docker` (see conftest.py) records each `docker compose run <service>-job sh -e -c
SCRIPT` call, so the tests read the exact scripts Tutor would run in the containers.
"""

from __future__ import annotations

import re
import subprocess

from .conftest import TutorProject

GATEWAY = "chat.local.openedx.io"


def assert_valid_sh(script: str) -> None:
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def init_llm(project: TutorProject, *args: str) -> dict[str, str]:
    project.tutor("local", "do", "init-llm", *args)
    jobs = project.job_scripts()
    assert [service for service, _ in jobs] == ["mysql-job", "lms-job", "llm-job", "cms-job"]
    for _, script in jobs:
        assert_valid_sh(script)
        assert "{{" not in script
        assert "{%" not in script
    return dict(jobs)


def create_dot_application(lms_script: str, name: str) -> str:
    """The `create_dot_application` command (one logical line) that creates `name`."""
    commands = re.findall(
        r"\./manage\.py lms create_dot_application(?:[^\n]*\\\n)*[^\n]*", lms_script
    )
    (command,) = [c for c in commands if re.search(rf"\s{re.escape(name)} llm-gateway$", c)]
    return command


def test_init_llm_help(project: TutorProject) -> None:
    result = project.tutor("local", "do", "init-llm", "--help")
    assert "Usage: tutor local do init-llm" in result.stdout
    assert "OAuth2" in result.stdout
    assert "init-llm" in project.tutor("local", "do", "--help").stdout
    assert "init-llm" in project.tutor("k8s", "do", "--help").stdout
    assert "init-llm" in project.tutor("dev", "do", "--help").stdout


def test_init_llm_runs_the_four_tasks(project: TutorProject) -> None:
    config = project.config()
    scripts = init_llm(project)

    mysql = scripts["mysql-job"]
    root = f'--user="root" --password="{config["MYSQL_ROOT_PASSWORD"]}"'
    assert root in mysql
    assert "CREATE DATABASE IF NOT EXISTS \\`llm\\`" in mysql
    password = config["LLM_MYSQL_PASSWORD"]
    assert f"CREATE USER IF NOT EXISTS 'llm'@'%' IDENTIFIED BY '{password}';" in mysql
    assert f"ALTER USER 'llm'@'%' IDENTIFIED BY '{password}';" in mysql
    assert "GRANT ALL PRIVILEGES ON \\`llm\\`.* TO 'llm'@'%';" in mysql

    lms = scripts["lms-job"]
    assert "./manage.py lms manage_user llm-gateway llm-gateway@openedx --unusable-password" in lms
    command = create_dot_application(lms, "llm-gateway")
    assert f'--redirect-uris "http://{GATEWAY}/oauth/openedx/callback"' in command
    assert '--client-id "llm-gateway"' in command
    assert f'--client-secret "{config["LLM_OAUTH_CLIENT_SECRET"]}"' in command
    for option in (
        "--grant-type authorization-code",
        "--scopes user_id",
        "--skip-authorization",
        "--update",
    ):
        assert option in command
    dev = create_dot_application(lms, "llm-gateway-dev")
    assert f'--redirect-uris "http://{GATEWAY}:8190/oauth/openedx/callback"' in dev
    assert '--client-id "llm-gateway-dev"' in dev
    # The user must exist before the application that belongs to it.
    assert lms.index("manage_user") < lms.index("create_dot_application")

    assert "\nibal-gateway migrate\n" in scripts["llm-job"]
    assert scripts["llm-job"].index("ibal-gateway migrate") < scripts["llm-job"].index(
        "ibal-gateway clients ensure"
    )
    assert "./manage.py cms ibal_index --all" in scripts["cms-job"]


def test_init_runs_the_llm_tasks_after_tutor_core(project: TutorProject) -> None:
    project.tutor("local", "do", "init")
    jobs = project.job_scripts()
    services = [service for service, _ in jobs]
    assert services[-4:] == ["mysql-job", "lms-job", "llm-job", "cms-job"]
    # Tutor's own LMS and CMS migrations (which create the OAuth2 tables) come first.
    for variant in ("lms", "cms"):
        migrations = [
            i for i, (_, script) in enumerate(jobs) if f"./manage.py {variant} migrate" in script
        ]
        assert migrations, services
        assert migrations[-1] < len(services) - 4


def test_init_limit_llm(project: TutorProject) -> None:
    project.tutor("local", "do", "init", "--limit", "llm")
    services = [service for service, _ in project.job_scripts()]
    assert services == ["mysql-job", "lms-job", "llm-job", "cms-job"]


def test_oauth_settings_flow_into_the_lms_task_and_the_gateway(project: TutorProject) -> None:
    # The README's last install step, one setting per command.
    project.save("LLM_OAUTH_CLIENT_ID=my-client")
    project.save("LLM_OAUTH_CLIENT_SECRET=my-secret")
    project.save("LLM_SERVICE_HOST=gateway")
    project.save("LLM_SERVICE_PORT=9100")
    lms = init_llm(project)["lms-job"]
    command = create_dot_application(lms, "llm-gateway")
    assert '--client-id "my-client"' in command
    assert '--client-secret "my-secret"' in command
    env = project.env_yaml("local", "docker-compose.yml")["services"]["llm"]["environment"]
    assert env["OPENEDX_CLIENT_ID"] == "my-client"
    assert env["OPENEDX_CLIENT_SECRET"] == "my-secret"
    assert env["BIND_ADDR"] == "0.0.0.0:9100"
    assert "reverse_proxy gateway:9100 {" in project.env_text("apps", "caddy", "Caddyfile")


def test_https_redirect_uri(project: TutorProject) -> None:
    project.save("ENABLE_HTTPS=true")
    command = create_dot_application(init_llm(project)["lms-job"], "llm-gateway")
    assert f'--redirect-uris "https://{GATEWAY}/oauth/openedx/callback"' in command


def test_jobs_use_the_job_services(project: TutorProject) -> None:
    init_llm(project)
    runs = [call for call in project.docker_calls() if "run" in call]
    for call in runs:
        assert call[0] == "compose"
        assert "--rm" in call
        assert any(arg.endswith("docker-compose.jobs.yml") for arg in call)
