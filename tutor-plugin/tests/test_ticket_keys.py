"""Unit tests of the chat ticket key helpers and the filters the settings templates use."""

from __future__ import annotations

import base64
import json
import typing as t

import pytest
from Crypto.PublicKey import RSA
from tutor import exceptions, utils

from tutorllm import templating, ticket_keys

# Keys made once for the module: RSA generation is slow.
PEM = utils.rsa_private_key(2048)
KEY = RSA.import_key(PEM)
KEY_LINE = PEM.splitlines()[1]  # key material, which no error message may show
OTHER_KEYS = [RSA.import_key(utils.rsa_private_key(2048)) for _ in range(2)]


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def old_jwk(kid: str = "old", which: int = 0, **changes: t.Any) -> dict[str, t.Any]:
    """The public JWK of a rotated-out key."""
    other = OTHER_KEYS[which]
    jwk: dict[str, t.Any] = {
        "kty": "RSA",
        "kid": kid,
        "n": utils.long_to_base64(other.n),
        "e": utils.long_to_base64(other.e),
    }
    jwk.update(changes)
    return jwk


def error_of(call: t.Callable[[], t.Any]) -> str:
    with pytest.raises(exceptions.TutorError) as info:
        call()
    message = str(info.value)
    assert KEY_LINE not in message
    return message


def test_public_jwk_is_the_public_half() -> None:
    jwk = ticket_keys.public_jwk(PEM, "k1")
    assert list(jwk) == ["kty", "kid", "alg", "use", "n", "e"]
    assert (jwk["kty"], jwk["kid"], jwk["alg"], jwk["use"]) == ("RSA", "k1", "RS256", "sig")
    assert b64url_int(jwk["n"]) == KEY.n
    assert b64url_int(jwk["e"]) == KEY.e


def test_pkcs8_keys_are_accepted() -> None:
    pkcs8 = KEY.export_key(pkcs=8).decode()
    assert "BEGIN PRIVATE KEY" in pkcs8
    assert ticket_keys.public_jwk(pkcs8, "k1") == ticket_keys.public_jwk(PEM, "k1")


@pytest.mark.parametrize(
    ("pem", "kid", "fragment"),
    [
        ("not a key", "k1", "is not a PEM RSA private key"),
        (PEM.replace("\n", " "), "k1", "must keep its line breaks"),  # what a plain --set does
        (KEY.public_key().export_key().decode(), "k1", "is a public key"),
        (RSA.generate(1024).export_key().decode(), "k1", "is a 1024-bit RSA key"),
        (42, "k1", "must be a PEM string"),
        (PEM, "", "LLM_TICKET_KEY_ID must be a non-empty string"),
        (PEM, " k1", "LLM_TICKET_KEY_ID must be a non-empty string"),
        (PEM, 7, "LLM_TICKET_KEY_ID must be a non-empty string"),
    ],
)
def test_unusable_keys(pem: t.Any, kid: t.Any, fragment: str) -> None:
    assert fragment in error_of(lambda: ticket_keys.public_jwk(pem, kid))


def test_ticket_jwks_is_one_line_of_json_with_the_previous_keys() -> None:
    previous = old_jwk("old", alg="RS256", use="sig", x5c=["ignored"])
    text = ticket_keys.ticket_jwks(PEM, "new", [previous])
    assert "\n" not in text
    assert " " not in text
    keys = json.loads(text)["keys"]
    assert [key["kid"] for key in keys] == ["new", "old"]
    # Previous keys are written with the public members only, as RS256 signing keys.
    assert keys[1] == {
        "kty": "RSA",
        "kid": "old",
        "alg": "RS256",
        "use": "sig",
        "n": previous["n"],
        "e": previous["e"],
    }


def test_the_current_key_listed_as_previous_is_not_listed_twice() -> None:
    # The first step of a rotation: the current key is kept before a new one replaces it.
    current = ticket_keys.public_jwk(PEM, "k1")
    keys = ticket_keys.jwk_set(current, [dict(current)])["keys"]
    assert keys == [current]


@pytest.mark.parametrize(
    ("previous", "fragment"),
    [
        ({"kty": "RSA"}, "must be a list"),
        (["text"], "LLM_TICKET_PREVIOUS_JWKS[0] must be a JWK"),
        ([old_jwk(d="secret")], "LLM_TICKET_PREVIOUS_JWKS[0] holds private key members (d)"),
        ([old_jwk(kty="EC")], 'must be an RSA key ("kty": "RSA")'),
        ([old_jwk(kid="")], "needs a kid"),
        ([{"kty": "RSA", "kid": "x", "e": "AQAB"}], 'needs "n"'),
        ([old_jwk(e="AQAB==")], 'needs "e"'),
        ([old_jwk(alg="RS512")], "must be a signing key for RS256"),
        ([old_jwk(use="enc")], "must be a signing key for RS256"),
        (
            [old_jwk("a"), old_jwk("a", which=1)],
            "LLM_TICKET_PREVIOUS_JWKS[1] has the kid 'a' of another",
        ),
        ([old_jwk("k1")], "LLM_TICKET_PREVIOUS_JWKS[0] has the kid 'k1' of another"),
    ],
)
def test_bad_previous_keys(previous: t.Any, fragment: str) -> None:
    current = ticket_keys.public_jwk(PEM, "k1")
    assert fragment in error_of(lambda: ticket_keys.jwk_set(current, previous))


@pytest.mark.parametrize(
    "value",
    [PEM, "it's", 'say "hi"', "back\\slash", "ünïcödé ✅ \U0001f600", "line\u2028sep", "tab\t"],
)
def test_py_str_round_trips(value: str) -> None:
    literal = templating.py_str(value)
    assert "\n" not in literal
    assert eval(literal, {}) == value


def test_sign_in_filter() -> None:
    assert templating.sign_in("popup") == "popup"
    assert templating.sign_in("lms") == "lms"
    for bad in ("LMS", "", None, "oauth"):
        message = error_of(lambda bad=bad: templating.sign_in(bad))
        assert 'LLM_SIGN_IN must be "popup"' in message
