"""What `tutor config save` renders once the plugin is enabled."""

from __future__ import annotations

import base64
import json
import re
import typing as t

import pytest
from Crypto.PublicKey import RSA

from .conftest import TutorProject

LMS = "local.openedx.io"
GATEWAY = "chat.local.openedx.io"


def compose_service(project: TutorProject, name: str, *path: str) -> dict[str, t.Any]:
    compose = project.env_yaml(*(path or ("local", "docker-compose.yml")))
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def compose_env(project: TutorProject) -> dict[str, str]:
    environment = compose_service(project, "llm")["environment"]
    assert isinstance(environment, dict)
    return environment


def k8s_object(project: TutorProject, filename: str, kind: str, name: str) -> dict[str, t.Any]:
    """A manifest from env/k8s/<filename>, or from another env path given with slashes."""
    path = filename.split("/") if "/" in filename else ["k8s", filename]
    for document in project.env_yaml_all(*path):
        if document["kind"] == kind and document["metadata"]["name"] == name:
            assert isinstance(document, dict)
            return document
    raise AssertionError(f"no {kind} {name} in {'/'.join(path)}")


SECRET_FILE = "plugins/llm/k8s/secrets.yml"
SECRET_NAME = "llm-secrets"


def k8s_secret(project: TutorProject) -> dict[str, str]:
    """The decoded data of the gateway's Secret."""
    secret = k8s_object(project, SECRET_FILE, "Secret", SECRET_NAME)
    data = secret.get("data") or {}
    return {name: base64.b64decode(value).decode("utf-8") for name, value in data.items()}


def container_env(
    container: dict[str, t.Any], secret: dict[str, str] | None = None
) -> dict[str, str]:
    """The container's environment; entries read from the Secret are looked up in `secret`."""
    names = [item["name"] for item in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env entries: {names}"
    env = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME, item
            assert secret is not None, f"{item['name']} comes from the Secret"
            assert ref["key"] in secret, f"{ref['key']} is not in the Secret"
            env[item["name"]] = secret[ref["key"]]
        else:
            env[item["name"]] = item["value"]
    return env


def differing(left: dict[str, str], right: dict[str, str]) -> list[str]:
    """Names whose values differ, without the values (they may be secrets)."""
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def llm_settings_blocks(text: str) -> list[str]:
    blocks = re.findall(
        r"# BEGIN tutor-contrib-llm\n.*?# END tutor-contrib-llm$", text, re.S | re.M
    )
    assert blocks, "the llm settings are missing"
    return blocks


def caddy_site(caddyfile: str, host: str) -> str:
    """The body of the `host{$default_site_port} { ... }` site block."""
    start = caddyfile.index(host + "{$default_site_port} {")
    depth = 0
    for index in range(caddyfile.index("{", start + len(host) + 20), len(caddyfile)):
        if caddyfile[index] == "{":
            depth += 1
        elif caddyfile[index] == "}":
            depth -= 1
            if depth == 0:
                return caddyfile[start : index + 1]
    raise AssertionError("unbalanced Caddy site block")


# ---------------------------------------------------------------- plugin and config


def test_plugin_is_installed_and_enabled(project: TutorProject) -> None:
    listing = project.tutor("plugins", "list").stdout
    assert re.search(r"^llm\s+✅?\s*enabled\s+0\.1\.0$", listing, re.M), listing
    assert "llm" in project.config()["PLUGINS"]


def test_defaults(project: TutorProject) -> None:
    def value(name: str) -> str:
        return project.tutor("config", "printvalue", name).stdout.strip()

    assert value("LLM_HOST") == GATEWAY
    assert value("LLM_SERVICE_HOST") == "llm"
    assert value("LLM_SERVICE_PORT") == "8000"
    assert value("LLM_OAUTH_CLIENT_ID") == "llm-gateway"
    assert value("LLM_SERVICE_CLIENT_ID") == "ibal-openedx"
    assert value("LLM_DOCKER_IMAGE") == "docker.io/ibal/ibal-gateway:0.1.0"
    assert value("LLM_MYSQL_DATABASE") == "llm"
    assert value("LLM_CHAT_BACKEND") == "room"
    assert (
        project.tutor("images", "printtag", "llm")
        .stdout.strip()
        .endswith("docker.io/ibal/ibal-gateway:0.1.0")
    )


def test_secrets_are_generated_once_and_kept(project: TutorProject) -> None:
    first = project.config()
    names = (
        "LLM_OAUTH_CLIENT_SECRET",
        "LLM_MYSQL_PASSWORD",
        "LLM_SECRET_KEY",
        "LLM_SERVICE_CLIENT_SECRET",
    )
    secrets = {k: first[k] for k in names}
    assert all(isinstance(v, str) and len(v) >= 24 for v in secrets.values()), secrets
    assert len(set(secrets.values())) == 4
    project.save()
    project.save("LLM_OAUTH_CLIENT_ID=other-client")
    again = project.config()
    assert {k: again[k] for k in secrets} == secrets
    assert compose_env(project)["SECRET_KEY"] == secrets["LLM_SECRET_KEY"]


def test_disabling_the_plugin_removes_the_gateway(project: TutorProject) -> None:
    project.tutor("plugins", "disable", "llm")
    project.save()
    assert "llm" not in project.env_yaml("local", "docker-compose.yml")["services"]
    assert "IbalXBlock" not in project.env_text(
        "apps", "openedx", "settings", "lms", "production.py"
    )
    assert GATEWAY not in project.env_text("apps", "caddy", "Caddyfile")


# ---------------------------------------------------------------- docker compose


def test_compose_service(project: TutorProject) -> None:
    service = compose_service(project, "llm")
    assert service["image"] == "docker.io/ibal/ibal-gateway:0.1.0"
    assert service["entrypoint"] + service["command"] == ["ibal-gateway", "serve"]
    assert service["restart"] == "unless-stopped"
    assert service["depends_on"] == ["mysql", "redis"]
    assert "networks" not in service  # no alias needed while LLM_SERVICE_HOST is "llm"


def test_compose_environment(project: TutorProject) -> None:
    config = project.config()
    env = compose_env(project)
    assert all(isinstance(value, str) for value in env.values()), env
    assert env["BIND_ADDR"] == "0.0.0.0:8000"
    assert env["PUBLIC_URL"] == f"http://{GATEWAY}"
    assert env["WS_URL"] == f"ws://{GATEWAY}/ws/chat/"
    assert env["DEBUG"] == "false"
    assert env["SECRET_KEY"] == config["LLM_SECRET_KEY"]
    assert env["LOG_FORMAT"] == "json"
    assert env["DATABASE_URL"] == f"mysql://llm:{config['LLM_MYSQL_PASSWORD']}@mysql:3306/llm"
    assert env["REDIS_URL"] == "redis://redis:6379/3"
    assert env["OPENEDX_URL"] == f"http://{LMS}"
    assert env["OPENEDX_INTERNAL_URL"] == "http://lms:8000"
    assert env["OPENEDX_CLIENT_ID"] == "llm-gateway"
    assert env["OPENEDX_CLIENT_SECRET"] == config["LLM_OAUTH_CLIENT_SECRET"]
    assert env["OPENEDX_REDIRECT_URI"] == f"http://{GATEWAY}/oauth/openedx/callback"
    assert env["OPENEDX_ISSUER"] == f"http://{LMS}/oauth2"
    assert env["OPENEDX_AUDIENCE"] == "openedx"
    assert env["TICKET_ISSUER"] == f"http://{LMS}"
    assert json.loads(env["TICKET_JWKS"])["keys"][0]["kid"] == config["LLM_TICKET_KEY_ID"]
    assert env["CHAT_BACKEND"] == "room"
    assert env["AUTO_MIGRATE"] == "true"
    assert (env["RETENTION_DAYS"], env["RETIREMENT_ROOM_MESSAGES"]) == ("0", "remove")
    assert env["RETRIEVAL_PASSAGES"] == "4"
    assert (
        env["ROOM_ASSISTANT"],
        env["ROOM_ASSISTANT_NAMES"],
        env["ROOM_ASSISTANT_PER_MINUTE"],
    ) == ("off", "assistant,assistante", "6")
    lms, cms, mfe = f"http://{LMS}", f"http://studio.{LMS}", f"http://apps.{LMS}"
    assert env["FRAME_ANCESTORS"].split(",") == [lms, cms, mfe]
    assert env["ALLOWED_ORIGINS"].split(",") == [f"http://{GATEWAY}", lms, cms, mfe]
    # Optional settings left empty are not passed at all.
    unset_settings = (
        "FLOWISE_URL",
        "FLOWISE_API_KEY",
        "OPENAI_API_KEY",
        "UPSTREAM_WS_URL",
        "LTI_PLATFORMS",
    )
    for unset in unset_settings:
        assert unset not in env
    assert env["TRUSTED_PROXIES"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"


def test_lti_platforms_reach_the_gateway_as_one_line_of_json(project: TutorProject) -> None:
    platform = {
        "issuer": "https://canvas.instructure.com",
        "client_id": "10000000000001",
        "deployment_ids": ["1:abc"],
        "auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    }
    project.save(f"LLM_LTI_PLATFORMS={json.dumps([platform])}")
    env = compose_env(project)
    assert json.loads(env["LTI_PLATFORMS"]) == [platform]


def test_jwks_is_the_public_half_of_the_lms_signing_key(project: TutorProject) -> None:
    jwks = json.loads(compose_env(project)["OPENEDX_JWKS"])
    (key,) = jwks["keys"]
    assert key["kid"] == "openedx"
    assert key["kty"] == "RSA"
    assert set(key) == {"kid", "kty", "e", "n"}, "only the public key may be given"
    private = RSA.import_key(project.config()["JWT_RSA_PRIVATE_KEY"])
    assert b64url_int(key["n"]) == private.n
    assert b64url_int(key["e"]) == private.e


def test_compose_job_shares_the_environment(project: TutorProject) -> None:
    job = compose_service(project, "llm-job", "local", "docker-compose.jobs.yml")
    assert job["image"] == "docker.io/ibal/ibal-gateway:0.1.0"
    assert job["entrypoint"] == []
    gateway_env = dict(compose_env(project))
    del gateway_env["AUTO_MIGRATE"]
    # Plus the service client's secret, which only the init job needs (to register the client).
    gateway_env["IBAL_SERVICE_CLIENT_SECRET"] = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    assert job["environment"] == gateway_env
    assert "IBAL_SERVICE_CLIENT_SECRET" not in compose_env(project)


def test_dev_compose(project: TutorProject) -> None:
    service = compose_service(project, "llm", "dev", "docker-compose.yml")
    assert service["ports"] == ["8190:8000"]
    env = service["environment"]
    assert env["DEBUG"] == "true"
    assert env["PUBLIC_URL"] == f"http://{GATEWAY}:8190"
    assert env["OPENEDX_URL"] == f"http://{LMS}:8000"
    assert env["OPENEDX_CLIENT_ID"] == "llm-gateway-dev"
    assert env["OPENEDX_REDIRECT_URI"] == f"http://{GATEWAY}:8190/oauth/openedx/callback"
    assert env["TICKET_ISSUER"] == f"http://{LMS}:8000"
    assert f"http://{LMS}:8000" in env["FRAME_ANCESTORS"].split(",")


def test_compose_files_are_valid_yaml(project: TutorProject) -> None:
    for path in (
        ("local", "docker-compose.yml"),
        ("local", "docker-compose.prod.yml"),
        ("local", "docker-compose.jobs.yml"),
        ("dev", "docker-compose.yml"),
        ("dev", "docker-compose.jobs.yml"),
    ):
        assert isinstance(project.env_yaml(*path), dict), path
    caddy = compose_service(project, "caddy", "local", "docker-compose.prod.yml")
    assert GATEWAY in caddy["networks"]["default"]["aliases"]


def test_values_are_quoted_safely(project: TutorProject) -> None:
    project.save(
        "LLM_CHAT_BACKEND=openai",
        "LLM_RETENTION_DAYS=365",
        "LLM_RETIREMENT_ROOM_MESSAGES=redact",
        "LLM_RETRIEVAL_PASSAGES=0",
        "LLM_OPENAI_BASE_URL=http://ollama:11434/v1",
        """LLM_OPENAI_API_KEY=sk-"quoted" $HOME 'single' ünï""",
    )
    secret = project.config()["LLM_OPENAI_API_KEY"]
    for char in ("$HOME", '"', "'"):
        assert char in secret
    # docker compose interpolates $VAR: the compose file must say $$HOME.
    assert compose_env(project)["OPENAI_API_KEY"] == secret.replace("$", "$$")
    assert compose_env(project)["OPENAI_BASE_URL"] == "http://ollama:11434/v1"
    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = container_env(container, k8s_secret(project))
    assert env["OPENAI_API_KEY"] == secret
    assert env["CHAT_BACKEND"] == "openai"
    assert (env["RETENTION_DAYS"], env["RETIREMENT_ROOM_MESSAGES"]) == ("365", "redact")
    # 0 is a value (no retrieval), not an empty setting left out.
    assert env["RETRIEVAL_PASSAGES"] == "0"


def test_the_assistant_in_live_rooms(project: TutorProject) -> None:
    # The gateway answers in rooms only with the room backend, through a model it is given.
    project.save(
        "LLM_CHAT_BACKEND=room",
        "LLM_ROOM_ASSISTANT=openai",
        "LLM_ROOM_ASSISTANT_NAMES=assistant,tutor",
        "LLM_ROOM_ASSISTANT_PER_MINUTE=12",
        "LLM_OPENAI_BASE_URL=http://ollama:11434/v1",
    )
    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for env in (compose_env(project), container_env(container, k8s_secret(project))):
        assert env["CHAT_BACKEND"] == "room"
        assert env["OPENAI_BASE_URL"] == "http://ollama:11434/v1"
        assert (
            env["ROOM_ASSISTANT"],
            env["ROOM_ASSISTANT_NAMES"],
            env["ROOM_ASSISTANT_PER_MINUTE"],
        ) == ("openai", "assistant,tutor", "12")


def test_redis_credentials(project: TutorProject) -> None:
    project.save("REDIS_USERNAME=gw", "REDIS_PASSWORD=p@ss/word")
    assert compose_env(project)["REDIS_URL"] == "redis://gw:p%40ss%2Fword@redis:6379/3"
    project.save("REDIS_USERNAME=", "REDIS_PASSWORD=onlypass")
    assert compose_env(project)["REDIS_URL"] == "redis://:onlypass@redis:6379/3"


def test_external_mysql_and_redis(project: TutorProject) -> None:
    project.save("RUN_MYSQL=false", "RUN_REDIS=false", "MYSQL_HOST=db.example.com")
    service = compose_service(project, "llm")
    assert service["depends_on"] == []
    assert "@db.example.com:3306/llm" in service["environment"]["DATABASE_URL"]


# ---------------------------------------------------------------- Caddy


#: Query parameters whose values are, or stand for, credentials: never in the access log.
CREDENTIAL_QUERY_PARAMETERS = frozenset(
    {
        "code",
        "state",
        "handle",
        "token",
        "access_token",
        "refresh_token",
        "subject_token",
        "ticket",
        "nonce",
        "id_token",
    }
)


def caddy_block(text: str, opening: str) -> str:
    """The body of the first `<opening> { ... }` block in `text`, comments removed."""
    lines = [line.split("#", 1)[0].rstrip() for line in text.splitlines()]
    text = "\n".join(lines)
    start = text.index(opening + " {") + len(opening) + 2
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
    raise AssertionError(f"unbalanced block {opening}")


def test_caddy_site(project: TutorProject) -> None:
    caddyfile = project.env_text("apps", "caddy", "Caddyfile")
    assert caddyfile.count("{") == caddyfile.count("}")
    site = caddy_site(caddyfile, GATEWAY)
    assert re.search(r"reverse_proxy llm:8000 \{[^}]*stream_close_delay \d+m", site), site
    assert "header_up X-Forwarded-Port 80" in site


def test_caddy_access_log_redacts_every_credential(project: TutorProject) -> None:
    site = caddy_site(project.env_text("apps", "caddy", "Caddyfile"), GATEWAY)
    fields = caddy_block(caddy_block(site, "log"), "fields")
    # Every header goes, request and response: cookies, Authorization, and Location (a redirect
    # URL may carry an authorization code).
    directives = {line.strip() for line in fields.splitlines() if line.strip()}
    assert {"request>headers delete", "resp_headers delete"} <= directives, directives
    query = caddy_block(fields, "request>uri query")
    actions = [line.split() for line in query.splitlines() if line.strip()]
    replaced = {w[1] for w in actions if w[0] == "replace" and w[2:] == ["REDACTED"]}
    assert replaced == CREDENTIAL_QUERY_PARAMETERS
    assert all(words[0] == "replace" and len(words) == 3 for words in actions), actions


def test_service_host_and_port(project: TutorProject) -> None:
    project.save("LLM_SERVICE_HOST=chat-gateway", "LLM_SERVICE_PORT=9000")
    site = caddy_site(project.env_text("apps", "caddy", "Caddyfile"), GATEWAY)
    assert "reverse_proxy chat-gateway:9000 {" in site
    service = compose_service(project, "llm")
    assert service["environment"]["BIND_ADDR"] == "0.0.0.0:9000"
    assert service["networks"]["default"]["aliases"] == ["chat-gateway"]
    assert compose_service(project, "llm", "dev", "docker-compose.yml")["ports"] == ["8190:9000"]
    # Studio and the LMS call the gateway there, server to server.
    for service_variant in ("lms", "cms"):
        settings = project.env_text("apps", "openedx", "settings", service_variant, "production.py")
        assert '"SERVICE_URL": "http://chat-gateway:9000"' in settings
    services = {
        doc["metadata"]["name"]: doc
        for doc in project.env_yaml_all("k8s", "services.yml")
        if doc["kind"] == "Service"
    }
    for name in ("llm", "chat-gateway"):
        assert services[name]["spec"]["ports"][0]["port"] == 9000
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": "llm"}
    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 9000}]


# ---------------------------------------------------------------- Open edX settings


@pytest.mark.parametrize("service", ["lms", "cms"])
def test_openedx_settings(project: TutorProject, service: str) -> None:
    settings = project.env_text("apps", "openedx", "settings", service, "production.py")
    compile(settings, f"{service}/production.py", "exec")
    (block,) = llm_settings_blocks(settings)
    namespace: dict[str, t.Any] = {
        "XBLOCK_SETTINGS": {"IbalXBlock": {"KEPT": 1}, "OtherBlock": {"x": 2}},
    }
    exec(block, namespace)
    exec(block, namespace)  # settings modules may be evaluated more than once
    # The private key is checked apart (test_tickets.py): a failing comparison would print it.
    has_key = "TICKET_PRIVATE_KEY" in namespace["XBLOCK_SETTINGS"]["IbalXBlock"]
    namespace["XBLOCK_SETTINGS"]["IbalXBlock"].pop("TICKET_PRIVATE_KEY", None)
    assert has_key
    service_secret = namespace["XBLOCK_SETTINGS"]["IbalXBlock"].pop("SERVICE_CLIENT_SECRET", None)
    assert service_secret == project.config()["LLM_SERVICE_CLIENT_SECRET"], "SERVICE_CLIENT_SECRET"
    assert namespace["XBLOCK_SETTINGS"] == {
        "IbalXBlock": {
            "KEPT": 1,
            "GATEWAY_URL": f"http://{GATEWAY}",
            "WS_URL": f"ws://{GATEWAY}/ws/chat/",
            "TICKET_KEY_ID": project.config()["LLM_TICKET_KEY_ID"],
            "TICKET_ISSUER": f"http://{LMS}",
            "SIGN_IN": "popup",
            # Studio and the LMS reach the gateway over the internal network, not through Caddy.
            "SERVICE_URL": "http://llm:8000",
            "SERVICE_CLIENT_ID": "ibal-openedx",
        },
        "OtherBlock": {"x": 2},
    }


@pytest.mark.parametrize("service", ["lms", "cms"])
def test_openedx_development_settings(project: TutorProject, service: str) -> None:
    settings = project.env_text("apps", "openedx", "settings", service, "development.py")
    compile(settings, f"{service}/development.py", "exec")
    namespace: dict[str, t.Any] = {"XBLOCK_SETTINGS": {}}
    for block in llm_settings_blocks(settings):
        exec(block, namespace)
    bucket = namespace["XBLOCK_SETTINGS"]["IbalXBlock"]
    has_key = bucket.pop("TICKET_PRIVATE_KEY", None) is not None
    assert has_key
    has_service_secret = bucket.pop("SERVICE_CLIENT_SECRET", None) is not None
    assert has_service_secret
    assert bucket == {
        "GATEWAY_URL": f"http://{GATEWAY}:8190",
        "WS_URL": f"ws://{GATEWAY}:8190/ws/chat/",
        "TICKET_KEY_ID": project.config()["LLM_TICKET_KEY_ID"],
        # The LMS of `tutor dev` is on port 8000: so is its LMS_ROOT_URL, the tickets' issuer.
        "TICKET_ISSUER": f"http://{LMS}:8000",
        "SIGN_IN": "popup",
        # The gateway container listens on the same port in dev.
        "SERVICE_URL": "http://llm:8000",
        "SERVICE_CLIENT_ID": "ibal-openedx",
    }


@pytest.mark.parametrize("https", [False, True])
def test_openedx_settings_leave_cors_and_csrf_alone(project: TutorProject, https: bool) -> None:
    """No page of the gateway calls the LMS from the browser: the LMS trusts no gateway origin."""
    if https:
        project.save("ENABLE_HTTPS=true")
    guarded = ("CORS_", "CSRF_")
    for service in ("lms", "cms"):
        for filename in ("production.py", "development.py"):
            where = f"{service}/{filename}"
            settings = project.env_text("apps", "openedx", "settings", service, filename)
            widening = [
                line
                for line in settings.splitlines()
                if GATEWAY in line and any(g in line for g in guarded)
            ]
            assert not widening, where
            before: dict[str, t.Any] = {
                "CORS_ORIGIN_WHITELIST": ["https://apps.example.com"],
                "CORS_ALLOWED_ORIGINS": ["https://apps.example.com"],
                "CSRF_TRUSTED_ORIGINS": ["https://apps.example.com"],
                "CORS_ORIGIN_ALLOW_ALL": False,
            }
            namespace: dict[str, t.Any] = {"XBLOCK_SETTINGS": {}, **json.loads(json.dumps(before))}
            for block in llm_settings_blocks(settings):
                exec(block, namespace)
            assert {name: namespace[name] for name in before} == before, where
            # The blocks did run: they set the gateway's URL for the block.
            port = "" if filename == "production.py" else ":8190"
            gateway_url = namespace["XBLOCK_SETTINGS"]["IbalXBlock"]["GATEWAY_URL"]
            assert gateway_url.endswith(GATEWAY + port), where


def test_xblock_is_installed_in_the_openedx_image(project: TutorProject) -> None:
    dockerfile = project.env_text("build", "openedx", "Dockerfile")
    requirement = (
        "'ibal-xblock @ git+https://github.com/ibal-project/ibal@main"
        "#subdirectory=xblock-widget/xblock'"
    )
    assert f"$PIP_COMMAND install {requirement}" in dockerfile
    # Next to Tutor's own python requirements, before the user's extra requirements.
    assert dockerfile.index(requirement) < dockerfile.index("FROM python AS nodejs-requirements")
    project.save("LLM_REPOSITORY=https://git.example.com/ibal.git", "LLM_REPOSITORY_VERSION=v2.0.0")
    assert "git+https://git.example.com/ibal.git@v2.0.0#subdirectory=xblock-widget/xblock" in (
        project.env_text("build", "openedx", "Dockerfile")
    )


# ---------------------------------------------------------------- HTTPS and hosts


def test_https_switches_every_url(project: TutorProject) -> None:
    project.save("ENABLE_HTTPS=true")
    env = compose_env(project)
    assert env["PUBLIC_URL"] == f"https://{GATEWAY}"
    assert env["WS_URL"] == f"wss://{GATEWAY}/ws/chat/"
    assert env["OPENEDX_URL"] == f"https://{LMS}"
    assert env["OPENEDX_REDIRECT_URI"] == f"https://{GATEWAY}/oauth/openedx/callback"
    assert env["OPENEDX_ISSUER"] == f"https://{LMS}/oauth2"
    assert env["TICKET_ISSUER"] == f"https://{LMS}"
    assert env["FRAME_ANCESTORS"].split(",") == [
        f"https://{LMS}",
        f"https://studio.{LMS}",
        f"https://apps.{LMS}",
    ]
    (block,) = llm_settings_blocks(
        project.env_text("apps", "openedx", "settings", "lms", "production.py")
    )
    assert f'"GATEWAY_URL": "https://{GATEWAY}"' in block
    assert f'"WS_URL": "wss://{GATEWAY}/ws/chat/"' in block
    assert f'"TICKET_ISSUER": "https://{LMS}"' in block
    site = caddy_site(project.env_text("apps", "caddy", "Caddyfile"), GATEWAY)
    assert "header_up X-Forwarded-Port 443" in site


def test_custom_hosts(project: TutorProject) -> None:
    project.save(
        "LMS_HOST=learn.example.com",
        "LLM_HOST=assistant.example.com",
        "MFE_HOST=mfe.example.com",
        'LLM_EXTRA_ORIGINS=["https://lti.example.org"]',
    )
    env = compose_env(project)
    assert env["PUBLIC_URL"] == "http://assistant.example.com"
    assert env["OPENEDX_URL"] == "http://learn.example.com"
    assert env["FRAME_ANCESTORS"].split(",") == [
        "http://learn.example.com",
        "http://studio.learn.example.com",
        "http://mfe.example.com",
        "https://lti.example.org",
    ]
    assert "assistant.example.com{$default_site_port} {" in project.env_text(
        "apps", "caddy", "Caddyfile"
    )


# ---------------------------------------------------------------- Kubernetes


def test_k8s_deployment(project: TutorProject) -> None:
    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/ibal/ibal-gateway:0.1.0"
    assert container["command"] + container["args"] == ["ibal-gateway", "serve"]
    env = container_env(container, k8s_secret(project))
    expected = dict(compose_env(project))
    expected["AUTO_MIGRATE"] = "false"  # only the init job migrates in Kubernetes
    assert not differing(env, expected)
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_k8s_replicas(project: TutorProject) -> None:
    project.save("LLM_REPLICAS=3")
    deployment = k8s_object(project, "deployments.yml", "Deployment", "llm")
    assert deployment["spec"]["replicas"] == 3
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = container_env(container, k8s_secret(project))
    assert env["AUTO_MIGRATE"] == "false"
    assert env["REDIS_URL"] == "redis://redis:6379/3"


def test_k8s_service_and_job(project: TutorProject) -> None:
    service = k8s_object(project, "services.yml", "Service", "llm")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "llm"}
    job = k8s_object(project, "jobs.yml", "Job", "llm-job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == []  # Tutor then runs the task with `sh -e -c`
    env = container_env(container, k8s_secret(project))
    gateway_env = dict(compose_env(project))
    del gateway_env["AUTO_MIGRATE"]
    gateway_env["IBAL_SERVICE_CLIENT_SECRET"] = project.config()["LLM_SERVICE_CLIENT_SECRET"]
    assert not differing(env, gateway_env)
    assert "AUTO_MIGRATE" not in env


# ---------------------------------------------------------------- the gateway image


def test_gateway_dockerfile(project: TutorProject) -> None:
    project.save("LLM_REPOSITORY_VERSION=v1.2.3")
    dockerfile = project.env_text("plugins", "llm", "build", "llm", "Dockerfile")
    assert "{{" not in dockerfile
    assert "{%" not in dockerfile
    assert 'git remote add origin "https://github.com/ibal-project/ibal"' in dockerfile
    assert 'git fetch --depth 1 origin "v1.2.3"' in dockerfile
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile, re.M)
    assert stages == [
        ("docker.io/rust:${RUST_VERSION}-${DEBIAN_RELEASE}", "code"),
        ("scratch", "ibal-src"),
        ("docker.io/rust:${RUST_VERSION}-${DEBIAN_RELEASE}", "builder"),
        ("docker.io/debian:${DEBIAN_RELEASE}-slim", ""),
    ]
    assert "ARG DEBIAN_RELEASE=bookworm" in dockerfile
    assert "rustup target add wasm32-unknown-unknown" in dockerfile
    assert "cargo install wasm-bindgen-cli --locked" in dockerfile
    assert dockerfile.index("make widget") < dockerfile.index(
        "cargo build --release -p ibal-gateway --locked"
    )
    runtime = dockerfile[dockerfile.rindex("FROM ") :]
    assert "ca-certificates curl" in runtime
    assert "USER 1000:1000" in runtime
    assert "COPY --from=builder /usr/local/bin/ibal-gateway /usr/local/bin/ibal-gateway" in runtime
    assert "EXPOSE 8000" in runtime
    assert re.search(
        r"HEALTHCHECK .*\n\s+CMD curl -fsS \"http://127\.0\.0\.1:[^\"]+/health\"", runtime
    )
    assert 'ENTRYPOINT ["ibal-gateway"]' in runtime
    assert 'CMD ["serve"]' in runtime


def test_mounting_an_ibal_checkout_builds_from_it(project: TutorProject, tmp_path: t.Any) -> None:
    checkout = tmp_path / "src" / "ibal"
    checkout.mkdir(parents=True)
    project.tutor("mounts", "add", str(checkout))
    listing = project.tutor("mounts", "list").stdout
    assert re.search(r"- image: llm\n\s+context: ibal-src\n", listing), listing
