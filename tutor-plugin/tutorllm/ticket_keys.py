"""The chat ticket key pair: the LMS signs tickets, the gateway verifies them.

The plugin generates the private key once (``LLM_TICKET_PRIVATE_KEY``, a unique
setting, like Tutor's own ``JWT_RSA_PRIVATE_KEY``) and names it with
``LLM_TICKET_KEY_ID``. The LMS gets the private key in
``XBLOCK_SETTINGS["IbalXBlock"]``; the gateway gets only the public half, as a
JWK set (``TICKET_JWKS``), followed by the public keys of
``LLM_TICKET_PREVIOUS_JWKS`` so that tickets signed with a rotated key keep
verifying until they expire.

Errors name the setting and the problem, never a key's material.
"""

from __future__ import annotations

import json
import re
import typing as t

from tutor import exceptions, utils

#: Smallest RSA key the IbalXBlock accepts for signing tickets.
MIN_RSA_BITS = 2048

# The members a public RSA JWK may have in the gateway's JWK set, in the order they are written.
_PUBLIC_MEMBERS = ("kty", "kid", "alg", "use", "n", "e")
# RFC 7518 §6.3.2: the private members of an RSA JWK.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+\Z")


def public_jwk(private_key_pem: t.Any, key_id: t.Any) -> dict[str, str]:
    """The public JWK of the ticket signing key, named ``key_id``."""
    if not isinstance(key_id, str) or not key_id.strip() or key_id != key_id.strip():
        raise exceptions.TutorError(
            "llm plugin: LLM_TICKET_KEY_ID must be a non-empty string without surrounding spaces"
        )
    if not isinstance(private_key_pem, str):
        raise exceptions.TutorError("llm plugin: LLM_TICKET_PRIVATE_KEY must be a PEM string")
    try:
        key = utils.rsa_import_key(private_key_pem)
    except (ValueError, IndexError, TypeError):
        raise exceptions.TutorError(
            "llm plugin: LLM_TICKET_PRIVATE_KEY is not a PEM RSA private key (PKCS#1 or PKCS#8); "
            "a value given with `tutor config save --set` must keep its line breaks"
        ) from None
    if not key.has_private():
        raise exceptions.TutorError(
            "llm plugin: LLM_TICKET_PRIVATE_KEY is a public key; the LMS needs the private key"
        )
    bits = int(key.size_in_bits())
    if bits < MIN_RSA_BITS:
        raise exceptions.TutorError(
            f"llm plugin: LLM_TICKET_PRIVATE_KEY is a {bits}-bit RSA key; "
            f"at least {MIN_RSA_BITS} bits are required"
        )
    return {
        "kty": "RSA",
        "kid": key_id,
        "alg": "RS256",
        "use": "sig",
        "n": utils.long_to_base64(int(key.n)),
        "e": utils.long_to_base64(int(key.e)),
    }


def _previous_key(index: int, jwk: t.Any) -> dict[str, str]:
    """A key of LLM_TICKET_PREVIOUS_JWKS, checked and reduced to its public members."""
    where = f"llm plugin: LLM_TICKET_PREVIOUS_JWKS[{index}]"
    if not isinstance(jwk, dict):
        raise exceptions.TutorError(f"{where} must be a JWK (a mapping), not {type(jwk).__name__}")
    private = sorted(name for name in _PRIVATE_MEMBERS if name in jwk)
    if private:
        raise exceptions.TutorError(
            f"{where} holds private key members ({', '.join(private)}): list public keys only"
        )
    if jwk.get("kty") != "RSA":
        raise exceptions.TutorError(f'{where} must be an RSA key ("kty": "RSA")')
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        raise exceptions.TutorError(f"{where} needs a kid: the gateway picks the key by kid")
    for name in ("n", "e"):
        value = jwk.get(name)
        if not isinstance(value, str) or not _BASE64URL.match(value):
            raise exceptions.TutorError(f'{where} needs "{name}", base64url without padding')
    if jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
        raise exceptions.TutorError(f'{where} must be a signing key for RS256 ("alg", "use")')
    key = {name: str(jwk[name]) for name in _PUBLIC_MEMBERS if name in jwk}
    key.update({"alg": "RS256", "use": "sig"})
    return {name: key[name] for name in _PUBLIC_MEMBERS}


def jwk_set(current: dict[str, str], previous: t.Any) -> dict[str, list[dict[str, str]]]:
    """The gateway's JWK set: the current key, then the previous ones.

    A kid names one key. A previous key equal to one already listed is left out: the
    first step of a rotation keeps the current key in LLM_TICKET_PREVIOUS_JWKS before
    a new key replaces it.
    """
    if previous is None:
        previous = []
    if not isinstance(previous, list):
        raise exceptions.TutorError(
            "llm plugin: LLM_TICKET_PREVIOUS_JWKS must be a list of public JWKs"
        )
    keys = [current]
    by_kid = {current["kid"]: current}
    for index, jwk in enumerate(previous):
        key = _previous_key(index, jwk)
        known = by_kid.get(key["kid"])
        if known is None:
            keys.append(key)
            by_kid[key["kid"]] = key
        elif (known["n"], known["e"]) != (key["n"], key["e"]):
            raise exceptions.TutorError(
                f"llm plugin: LLM_TICKET_PREVIOUS_JWKS[{index}] has the kid {key['kid']!r} of "
                "another ticket key: give each ticket key its own kid"
            )
    return {"keys": keys}


def ticket_jwks(private_key_pem: t.Any, key_id: t.Any, previous: t.Any) -> str:
    """``TICKET_JWKS`` for the gateway: the JWK set as one line of JSON."""
    keys = jwk_set(public_jwk(private_key_pem, key_id), previous)
    return json.dumps(keys, separators=(",", ":"))
