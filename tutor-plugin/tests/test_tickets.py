"""The chat ticket key pair through the real `tutor` CLI: generated once, rendered for the LMS
(private key) and for the gateway (public JWK set), rotated.

No assertion here compares private keys directly: a failing comparison would print them.
They are compared through a fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import typing as t

import pytest
from Crypto.PublicKey import RSA

from .conftest import TutorProject
from .test_render import LMS, compose_env, compose_service, llm_settings_blocks


def fingerprint(pem: t.Any) -> str:
    """Names a key without showing it."""
    return hashlib.sha256(str(pem).encode()).hexdigest()[:16]


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def xblock_settings(project: TutorProject, service: str, filename: str) -> dict[str, t.Any]:
    """XBLOCK_SETTINGS["IbalXBlock"] as the rendered settings module leaves it."""
    settings = project.env_text("apps", "openedx", "settings", service, filename)
    namespace: dict[str, t.Any] = {"XBLOCK_SETTINGS": {}}
    for block in llm_settings_blocks(settings):
        exec(block, namespace)
    bucket = namespace["XBLOCK_SETTINGS"]["IbalXBlock"]
    assert isinstance(bucket, dict)
    return bucket


def gateway_keys(env: dict[str, str]) -> list[dict[str, str]]:
    keys = json.loads(env["TICKET_JWKS"])["keys"]
    assert isinstance(keys, list)
    return keys


def test_key_pair_is_generated_once_and_kept(project: TutorProject) -> None:
    first = project.config()
    key = RSA.import_key(first["LLM_TICKET_PRIVATE_KEY"])
    assert key.has_private()
    assert key.size_in_bits() == 2048
    kid = first["LLM_TICKET_KEY_ID"]
    assert isinstance(kid, str)
    assert len(kid) >= 16
    project.save()
    project.save("LLM_SIGN_IN=lms", "LLM_HOST=assistant.local.openedx.io")
    again = project.config()
    kept = fingerprint(again["LLM_TICKET_PRIVATE_KEY"]) == fingerprint(
        first["LLM_TICKET_PRIVATE_KEY"]
    )
    assert kept, "LLM_TICKET_PRIVATE_KEY changed on `tutor config save`"
    assert again["LLM_TICKET_KEY_ID"] == kid
    assert "LLM_TICKET_PREVIOUS_JWKS" not in again  # a default: not written to config.yml


def test_other_projects_get_other_keys(project: TutorProject, tmp_path: t.Any) -> None:
    (tmp_path / "other").mkdir()
    other = TutorProject(tmp_path / "other")
    other.tutor("plugins", "enable", "llm")
    other.save()
    mine, theirs = project.config(), other.config()
    mine_key, their_key = mine["LLM_TICKET_PRIVATE_KEY"], theirs["LLM_TICKET_PRIVATE_KEY"]
    assert fingerprint(mine_key) != fingerprint(their_key)
    assert mine["LLM_TICKET_KEY_ID"] != theirs["LLM_TICKET_KEY_ID"]


@pytest.mark.parametrize("service", ["lms", "cms"])
def test_openedx_settings_hold_the_private_key_and_kid(project: TutorProject, service: str) -> None:
    config = project.config()
    bucket = xblock_settings(project, service, "production.py")
    rendered = fingerprint(bucket.pop("TICKET_PRIVATE_KEY"))
    assert rendered == fingerprint(config["LLM_TICKET_PRIVATE_KEY"])
    assert bucket["TICKET_KEY_ID"] == config["LLM_TICKET_KEY_ID"]
    assert bucket["TICKET_ISSUER"] == f"http://{LMS}"
    assert bucket["SIGN_IN"] == "popup"


def test_gateway_gets_the_public_half_under_the_same_kid(project: TutorProject) -> None:
    config = project.config()
    private = RSA.import_key(config["LLM_TICKET_PRIVATE_KEY"])
    env = compose_env(project)
    assert env["TICKET_ISSUER"] == f"http://{LMS}"
    (key,) = gateway_keys(env)
    assert set(key) == {"kty", "kid", "alg", "use", "n", "e"}, "only the public key may be given"
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"] == config["LLM_TICKET_KEY_ID"]
    assert b64url_int(key["n"]) == private.n
    assert b64url_int(key["e"]) == private.e
    # The issuer the LMS signs with is the issuer the gateway expects.
    assert xblock_settings(project, "lms", "production.py")["TICKET_ISSUER"] == env["TICKET_ISSUER"]
    # The compose job shares the JWK set; `tutor dev` (whose compose file only overrides entries)
    # has its LMS on port 8000, and so its issuer.
    job = compose_service(project, "llm-job", "local", "docker-compose.jobs.yml")
    assert job["environment"]["TICKET_JWKS"] == env["TICKET_JWKS"]
    dev = compose_service(project, "llm", "dev", "docker-compose.yml")["environment"]
    assert "TICKET_JWKS" not in dev
    assert dev["TICKET_ISSUER"] == f"http://{LMS}:8000"
    dev_bucket = xblock_settings(project, "lms", "development.py")
    assert dev_bucket["TICKET_ISSUER"] == dev["TICKET_ISSUER"]


def test_previous_keys_are_appended(project: TutorProject) -> None:
    old = RSA.generate(2048)
    previous = {
        "kty": "RSA",
        "kid": "retired-2025",
        "n": base64.urlsafe_b64encode(old.n.to_bytes(256, "big")).rstrip(b"=").decode(),
        "e": "AQAB",
    }
    project.save(f"LLM_TICKET_PREVIOUS_JWKS={json.dumps([previous])}")
    keys = gateway_keys(compose_env(project))
    assert [key["kid"] for key in keys] == [project.config()["LLM_TICKET_KEY_ID"], "retired-2025"]
    assert keys[1] == {**previous, "alg": "RS256", "use": "sig"}
    # The LMS signs with the current key only.
    assert xblock_settings(project, "lms", "production.py")["TICKET_KEY_ID"] == keys[0]["kid"]


def test_a_private_previous_key_is_refused(project: TutorProject) -> None:
    leaked = {"kty": "RSA", "kid": "old", "n": "AQAB", "e": "AQAB", "d": "c2VjcmV0LW1hdGVyaWFs"}
    result = project.tutor(
        "config", "save", "--set", f"LLM_TICKET_PREVIOUS_JWKS={json.dumps([leaked])}", check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "LLM_TICKET_PREVIOUS_JWKS[0] holds private key members (d)" in output
    assert "c2VjcmV0LW1hdGVyaWFs" not in output


def test_sign_in_reaches_the_xblock_settings(project: TutorProject) -> None:
    project.save("LLM_SIGN_IN=lms")
    for service in ("lms", "cms"):
        assert xblock_settings(project, service, "production.py")["SIGN_IN"] == "lms"
        assert xblock_settings(project, service, "development.py")["SIGN_IN"] == "lms"
    result = project.tutor("config", "save", "--set", "LLM_SIGN_IN=both", check=False)
    assert result.returncode != 0
    assert 'LLM_SIGN_IN must be "popup"' in result.stdout + result.stderr


def test_rotation(project: TutorProject) -> None:
    """The README's key rotation, step by step."""
    before = project.config()
    old_jwk = json.loads(project.tutor("llm", "ticket-jwk").stdout.strip().splitlines()[-1])
    (current,) = gateway_keys(compose_env(project))
    assert old_jwk == current

    # 1. Keep the current public key: alone, this changes nothing the gateway accepts.
    project.save(f"LLM_TICKET_PREVIOUS_JWKS=[{json.dumps(old_jwk)}]")
    assert gateway_keys(compose_env(project)) == [current]
    # 2. A new key pair and kid, generated by the plugin.
    project.tutor(
        "config", "save", "--unset", "LLM_TICKET_PRIVATE_KEY", "--unset", "LLM_TICKET_KEY_ID"
    )
    project.save()
    after = project.config()
    rotated = fingerprint(after["LLM_TICKET_PRIVATE_KEY"]) != fingerprint(
        before["LLM_TICKET_PRIVATE_KEY"]
    )
    assert rotated, "the private key was not replaced"
    assert after["LLM_TICKET_KEY_ID"] != before["LLM_TICKET_KEY_ID"]
    # The gateway accepts both keys, new first; the LMS signs with the new one.
    keys = gateway_keys(compose_env(project))
    assert [key["kid"] for key in keys] == [after["LLM_TICKET_KEY_ID"], old_jwk["kid"]]
    assert keys[1] == old_jwk
    bucket = xblock_settings(project, "lms", "production.py")
    signs_with_new = fingerprint(bucket["TICKET_PRIVATE_KEY"]) == fingerprint(
        after["LLM_TICKET_PRIVATE_KEY"]
    )
    assert signs_with_new
    assert bucket["TICKET_KEY_ID"] == after["LLM_TICKET_KEY_ID"]
    # The new key is kept from now on.
    project.save()
    assert project.config()["LLM_TICKET_KEY_ID"] == after["LLM_TICKET_KEY_ID"]
    # 4. Once the old tickets expired: forget the old key.
    project.save("LLM_TICKET_PREVIOUS_JWKS=[]")
    kids = [key["kid"] for key in gateway_keys(compose_env(project))]
    assert kids == [after["LLM_TICKET_KEY_ID"]]


def test_bring_your_own_key(project: TutorProject) -> None:
    own = RSA.generate(2048).export_key(pkcs=8).decode()
    # Quoted as a JSON string, the PEM keeps its line breaks through `--set`.
    project.save(f"LLM_TICKET_PRIVATE_KEY={json.dumps(own)}", "LLM_TICKET_KEY_ID=ours-1")
    stored = fingerprint(project.config()["LLM_TICKET_PRIVATE_KEY"]) == fingerprint(own)
    assert stored
    (key,) = gateway_keys(compose_env(project))
    assert key["kid"] == "ours-1"
    assert b64url_int(key["n"]) == RSA.import_key(own).n
    # Unquoted, YAML folds the line breaks: the save fails with a message, not the key.
    result = project.tutor("config", "save", "--set", f"LLM_TICKET_PRIVATE_KEY={own}", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "LLM_TICKET_PRIVATE_KEY is not a PEM RSA private key" in output
    assert own.splitlines()[1] not in output
