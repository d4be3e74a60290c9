"""Tutor plugin "llm": installs the IBAL gateway into an Open edX platform.

What it adds (see README.md):

- the gateway service ``llm`` (docker compose and Kubernetes) with its Caddy site; in
  Kubernetes its secret settings are in the Secret ``llm-secrets``;
- a MySQL database and user for the gateway;
- the OAuth2 application the gateway uses to log users in through the LMS;
- the IbalXBlock in the openedx image, and ``XBLOCK_SETTINGS["IbalXBlock"]``;
- the LMS public JWK set in the gateway's configuration (``OPENEDX_JWKS``);
- the chat ticket key pair: the private key for the IbalXBlock in the LMS, the
  public JWK set for the gateway (``TICKET_JWKS``, see ticket_keys.py);
- the service client Studio and the LMS use to push course content to the gateway's
  course index and to retire learners (``LLM_SERVICE_CLIENT_ID`` / ``_SECRET``),
  registered by the init job, which also indexes every course;
- the ``init-llm`` job: ``tutor local do init-llm``.
"""

from __future__ import annotations

import json
import os
import typing as t
from importlib import resources

import click
from tutor import config as tutor_config
from tutor.commands.context import Context

# tutor.hooks.Filters, imported from the module that defines it: `mypy --strict`
# (no implicit re-exports) then needs no exemption for tutor.hooks.
from tutor.hooks.catalog import Filters

from . import templating, ticket_keys
from .__about__ import __version__

PLUGIN_ROOT = str(resources.files("tutorllm"))
TEMPLATES_ROOT = os.path.join(PLUGIN_ROOT, "templates")
PATCHES_ROOT = os.path.join(PLUGIN_ROOT, "patches")

########################################
# Configuration
########################################

# Settings are prefixed with "LLM_" (e.g. LLM_HOST). "defaults" are not written to
# config.yml unless the user sets them; "unique" values are generated once by the
# first `tutor config save` and then kept in config.yml.
CONFIG: dict[str, dict[str, t.Any]] = {
    "defaults": {
        "VERSION": __version__,
        "DOCKER_IMAGE": "{{ DOCKER_REGISTRY }}ibal/ibal-gateway:{{ LLM_VERSION }}",
        # Where the image build (and the XBlock install) get the IBAL source code:
        # a git URL and a branch, tag or commit.
        "REPOSITORY": "https://github.com/ibal-project/ibal",
        "REPOSITORY_VERSION": "main",
        "XBLOCK_REQUIREMENT": (
            "ibal-xblock @ git+{{ LLM_REPOSITORY }}@{{ LLM_REPOSITORY_VERSION }}"
            "#subdirectory=xblock-widget/xblock"
        ),
        # Public host name of the gateway (its Caddy site).
        "HOST": "chat.{{ LMS_HOST }}",
        # Internal host name and port of the gateway: the port it listens on, and
        # the address Caddy proxies to.
        "SERVICE_HOST": "llm",
        "SERVICE_PORT": 8000,
        # Host port of the gateway in `tutor dev` (there is no Caddy in dev).
        "DEV_PORT": 8190,
        "REPLICAS": 1,
        "OAUTH_CLIENT_ID": "llm-gateway",
        "MYSQL_DATABASE": "llm",
        "MYSQL_USERNAME": "llm",
        "REDIS_DB": 3,
        # Chat backend: room (no external service), flowise, openai or websocket.
        "CHAT_BACKEND": "room",
        "FLOWISE_URL": "",
        "FLOWISE_FLOW_ID": "",
        "FLOWISE_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "OPENAI_API_KEY": "",
        "OPENAI_MODEL": "",
        "UPSTREAM_WS_URL": "",
        # LTI 1.3 platforms allowed to launch the chat: a list of {"issuer", "client_id",
        # "deployment_ids": [...], "auth_url", "jwks_url", "token_url"?, "name"?}.
        "LTI_PLATFORMS": [],
        # Further origins (scheme://host[:port]) allowed to embed the chat and to
        # open its WebSocket, besides the LMS, Studio and the MFEs.
        "EXTRA_ORIGINS": [],
        # How learners sign in to the gateway from a course unit: "popup" (the Open
        # edX OAuth2 popup) or "lms" (the chat ticket alone, no popup).
        "SIGN_IN": "popup",
        # Public JWKs of rotated-out ticket keys, which the gateway keeps accepting
        # until the tickets they signed have expired (see README.md, key rotation).
        "TICKET_PREVIOUS_JWKS": [],
        # Learner data: days after which chats are deleted (0: kept), and what retiring a
        # learner does to their messages in course rooms ("remove" or "redact").
        "RETENTION_DAYS": 0,
        "RETIREMENT_ROOM_MESSAGES": "remove",
        # Course knowledge: passages of the indexed course sent with each assistant question
        # (0 to 20; 0 turns retrieval off).
        "RETRIEVAL_PASSAGES": 4,
        # The assistant in live rooms (with CHAT_BACKEND "room"): "off", "openai" (needs
        # OPENAI_BASE_URL) or "flowise" (needs FLOWISE_URL and FLOWISE_FLOW_ID) answers room
        # messages that mention one of its names, at most PER_MINUTE replies per room a minute.
        "ROOM_ASSISTANT": "off",
        "ROOM_ASSISTANT_NAMES": "assistant,assistante",
        "ROOM_ASSISTANT_PER_MINUTE": 6,
        # The gateway's service client that Studio and the LMS use, server to server,
        # to push course content to the course index and to retire learners.
        "SERVICE_CLIENT_ID": "ibal-openedx",
    },
    "unique": {
        "OAUTH_CLIENT_SECRET": "{{ 32|random_string }}",
        "MYSQL_PASSWORD": "{{ 24|random_string }}",
        "SECRET_KEY": "{{ 64|random_string }}",
        # The key the IbalXBlock signs chat tickets with, and its kid: generated once,
        # so the LMS and the gateway always name the same key.
        "TICKET_PRIVATE_KEY": "{{ 2048|rsa_private_key }}",
        "TICKET_KEY_ID": "{{ 16|random_string }}",
        "SERVICE_CLIENT_SECRET": "{{ 32|random_string }}",
    },
}

Filters.CONFIG_DEFAULTS.add_items(
    [(f"LLM_{key}", value) for key, value in CONFIG["defaults"].items()]
)
Filters.CONFIG_UNIQUE.add_items([(f"LLM_{key}", value) for key, value in CONFIG["unique"].items()])

########################################
# Templates and patches
########################################

Filters.ENV_TEMPLATE_ROOTS.add_item(TEMPLATES_ROOT)
# Rendered to $(tutor config printroot)/env/plugins/llm/: the image build folder, and the
# Kubernetes Secret holding the gateway's secret settings (k8s/secrets.yml, listed in
# kustomization.yml by the "kustomization-resources" patch).
# templates/llm/apps/partials/ holds included partials (never rendered on their own)
# and templates/llm/tasks/ holds the init scripts (rendered when they run).
Filters.ENV_TEMPLATE_TARGETS.add_items([("llm/build", "plugins"), ("llm/k8s", "plugins")])
Filters.ENV_TEMPLATE_FILTERS.add_items(templating.FILTERS)


def _read_patches() -> list[tuple[str, str]]:
    patches = []
    for name in sorted(os.listdir(PATCHES_ROOT)):
        path = os.path.join(PATCHES_ROOT, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as patch_file:
            patches.append((name, patch_file.read()))
    return patches


Filters.ENV_PATCHES.add_items(_read_patches())

# The IbalXBlock goes into the openedx image through the
# "openedx-dockerfile-post-python-requirements" patch rather than by appending to
# OPENEDX_EXTRA_PIP_REQUIREMENTS with CONFIG_OVERRIDES: an override of that list is
# written into the user's config.yml, is silently ignored when the user already has
# their own OPENEDX_EXTRA_PIP_REQUIREMENTS, and would clobber another plugin doing the
# same. The patch adds one `pip install` step next to Tutor's own and leaves the user's
# list untouched. LLM_XBLOCK_REQUIREMENT selects what gets installed.

########################################
# Initialisation jobs
########################################

# (service, script) pairs. Each script runs in the "<service>-job" container:
# mysql-job (database and user), lms-job (OAuth2 application), llm-job (migrations, and
# the service client of Studio and the LMS), cms-job (the first push of every course to
# the gateway's course index; it needs the running gateway and the service client).
# They are added with the default priority, so during `tutor local do init` they run
# after Tutor's own tasks (the LMS must be migrated before its OAuth2 tables are used).
INIT_TASKS: list[tuple[str, tuple[str, ...]]] = [
    ("mysql", ("llm", "tasks", "mysql", "init")),
    ("lms", ("llm", "tasks", "lms", "init")),
    ("llm", ("llm", "tasks", "llm", "init")),
    ("cms", ("llm", "tasks", "cms", "init")),
]


def _read_template(*path: str) -> str:
    with open(os.path.join(TEMPLATES_ROOT, *path), encoding="utf-8") as template:
        return template.read()


def init_tasks() -> list[tuple[str, str]]:
    """The unrendered init scripts, in the order they must run."""
    return [(service, _read_template(*path)) for service, path in INIT_TASKS]


# Part of `tutor local do init` (and so of `tutor local launch`); also runs alone with
# `tutor local do init --limit=llm`.
Filters.CLI_DO_INIT_TASKS.add_items(init_tasks())


@click.command(
    name="init-llm",
    help=(
        "Initialise the IBAL gateway: create its MySQL database and user, the OAuth2 "
        "application in the LMS, run the gateway's database migrations, register the "
        "service client of Studio and the LMS (course indexing, learner retirement), and "
        "push every course to the gateway's course index. Safe to run again (e.g. after "
        "changing LLM_OAUTH_CLIENT_ID, LLM_OAUTH_CLIENT_SECRET or LLM_SERVICE_CLIENT_SECRET)."
    ),
)
def init_llm() -> t.Iterator[tuple[str, str]]:
    # `do` commands only yield (service, script) pairs; Tutor renders each script
    # with the current configuration and runs it in the "<service>-job" container.
    yield from init_tasks()


Filters.CLI_DO_COMMANDS.add_item(init_llm)

########################################
# `tutor llm ...` commands
########################################


@click.group(name="llm", help="The IBAL gateway plugin (llm).")
def llm_command() -> None:
    pass


@llm_command.command(
    name="ticket-jwk",
    help=(
        "Print the public JWK of the current chat ticket key (LLM_TICKET_PRIVATE_KEY, kid "
        "LLM_TICKET_KEY_ID) as one line of JSON. Before a key rotation, keep it in "
        "LLM_TICKET_PREVIOUS_JWKS so that the gateway accepts the tickets it signed "
        "until they expire."
    ),
)
@click.pass_obj
def print_ticket_jwk(context: Context) -> None:
    config = tutor_config.load(context.root)
    jwk = ticket_keys.public_jwk(config["LLM_TICKET_PRIVATE_KEY"], config["LLM_TICKET_KEY_ID"])
    click.echo(json.dumps(jwk, separators=(",", ":")))


Filters.CLI_COMMANDS.add_item(llm_command)

########################################
# Docker image
########################################

Filters.IMAGES_BUILD.add_item(
    ("llm", ("plugins", "llm", "build", "llm"), "{{ LLM_DOCKER_IMAGE }}", ())
)
Filters.IMAGES_PULL.add_item(("llm", "{{ LLM_DOCKER_IMAGE }}"))
Filters.IMAGES_PUSH.add_item(("llm", "{{ LLM_DOCKER_IMAGE }}"))


@Filters.IMAGES_BUILD_REQUIRED.add()
def _build_images_on_launch(
    image_names: list[str], context_name: t.Literal["local", "dev"]
) -> list[str]:
    """Images that `tutor local/dev launch` must build.

    The gateway image is built from source (LLM_REPOSITORY). The openedx image must
    be rebuilt to contain the IbalXBlock; in dev, Tutor already builds openedx-dev.
    """
    required = ["llm"] if context_name == "dev" else ["openedx", "llm"]
    for name in required:
        if name not in image_names:
            image_names.append(name)
    return image_names


@Filters.IMAGES_BUILD_MOUNTS.add()
def _mount_ibal_source(mounts: list[tuple[str, str]], path: str) -> list[tuple[str, str]]:
    """`tutor mounts add /path/to/ibal` builds the gateway image from that checkout.

    The host folder replaces the "ibal-src" stage of the Dockerfile.
    """
    if os.path.basename(os.path.normpath(path)) == "ibal":
        mounts.append(("llm", "ibal-src"))
    return mounts


########################################
# Public hosts (printed at the end of `tutor local/dev launch`)
########################################


@Filters.APP_PUBLIC_HOSTS.add()
def _public_hosts(hosts: list[str], context_name: t.Literal["local", "dev"]) -> list[str]:
    if context_name == "dev":
        hosts.append("{{ LLM_HOST }}:{{ LLM_DEV_PORT }}")
    else:
        hosts.append("{{ LLM_HOST }}")
    return hosts
