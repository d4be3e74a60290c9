"""Unit tests of the XBLOCK_SETTINGS["IbalXBlock"] parser (no runtime involved)."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ibal_xblock.config import (
    ConfigError,
    derive_ws_url,
    parse_service_settings,
    parse_settings,
    parse_ticket_settings,
    setting_path,
    url_origin,
)
from ibal_xblock.keys import jwk_thumbprint, public_jwk

from .helpers import TICKET_PRIVATE_KEY, TICKET_PUBLIC_KEY, rsa_pem


def test_defaults_from_gateway_url():
    config = parse_settings({"GATEWAY_URL": "https://chat.local.openedx.io"}, "0.1.0")
    assert config.gateway_url == "https://chat.local.openedx.io"
    assert config.ws_url == "wss://chat.local.openedx.io/ws/chat/"
    assert config.widget_version == "0.1.0"
    assert config.widget_url == "https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.js"


@pytest.mark.parametrize(
    ("gateway", "expected", "ws"),
    [
        ("http://localhost:8000", "http://localhost:8000", "ws://localhost:8000/ws/chat/"),
        ("http://localhost:8000/", "http://localhost:8000", "ws://localhost:8000/ws/chat/"),
        ("https://h.example/prefix/", "https://h.example/prefix", "wss://h.example/prefix/ws/chat/"),
        ("https://[::1]:8443", "https://[::1]:8443", "wss://[::1]:8443/ws/chat/"),
    ],
)
def test_gateway_url_normalisation(gateway, expected, ws):
    config = parse_settings({"GATEWAY_URL": gateway}, "1.0.0")
    assert config.gateway_url == expected
    assert config.ws_url == ws
    assert derive_ws_url(expected) == ws


def test_explicit_ws_url_is_kept_as_given():
    config = parse_settings({"GATEWAY_URL": "https://a.example", "WS_URL": "wss://b.example/ws/chat/"}, "1")
    assert config.ws_url == "wss://b.example/ws/chat/"
    config = parse_settings({"GATEWAY_URL": "https://a.example", "WS_URL": "ws://b.example"}, "1")
    assert config.ws_url == "ws://b.example/"


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        (None, "GATEWAY_URL"),
        ({}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "   "}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "/relative"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://a b.example"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": 'https://a.example/"onload="x'}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://a.example#frag"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://user@a.example"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://a.example:0"}, "GATEWAY_URL"),
        ({"GATEWAY_URL": "https://a.example", "WS_URL": "http://a.example/ws/chat/"}, "WS_URL"),
        ({"GATEWAY_URL": "https://a.example", "WS_URL": 1}, "WS_URL"),
        ({"GATEWAY_URL": "https://a.example", "WIDGET_VERSION": "1/2"}, "WIDGET_VERSION"),
        ({"GATEWAY_URL": "https://a.example", "WIDGET_VERSION": 3}, "WIDGET_VERSION"),
        (["GATEWAY_URL"], None),
    ],
)
def test_invalid_settings_name_the_key(bucket, key):
    with pytest.raises(ConfigError) as info:
        parse_settings(bucket, "0.1.0")
    assert info.value.key == key
    assert info.value.setting == setting_path(key)
    assert str(info.value).startswith(setting_path(key))


def test_setting_path():
    assert setting_path() == 'XBLOCK_SETTINGS["IbalXBlock"]'
    assert setting_path("GATEWAY_URL") == 'XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"]'


# --- chat ticket settings ---

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3ok"
    "njhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6"
    "qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awap"
    "JzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
ISSUER = "https://lms.example.com"

_PKCS1_PEM, _PKCS1_KEY = rsa_pem(pkcs1=True)
_SMALL_PEM, _ = rsa_pem(1024)
_EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)
_ENCRYPTED_PEM = _PKCS1_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(b"password"),
).decode()
_PUBLIC_PEM = (
    _PKCS1_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def b64url_uint(value):
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_jwk_thumbprint_matches_rfc_7638_example():
    public = rsa.RSAPublicNumbers(e=65537, n=b64url_uint(RFC7638_N)).public_key()
    assert public_jwk(public) == {"kty": "RSA", "n": RFC7638_N, "e": "AQAB"}
    assert jwk_thumbprint(public) == RFC7638_THUMBPRINT


def test_ticket_defaults():
    config = parse_ticket_settings({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY}, "https://lms.example.com/")
    assert config.issuer == "https://lms.example.com"
    assert config.ttl == 300
    assert config.sign_in == "popup"
    assert config.key_id == jwk_thumbprint(TICKET_PUBLIC_KEY)
    assert config.private_key.public_key().public_numbers() == TICKET_PUBLIC_KEY.public_numbers()
    assert "BEGIN" not in repr(config)
    assert config.unit_content_max_chars == 12000
    assert config.disclosure_text == (
        "Answers are generated by AI and may be wrong. Check important information with your course materials or "
        "your instructors."
    )


def test_ticket_settings_as_given():
    config = parse_ticket_settings(
        {
            "TICKET_PRIVATE_KEY": _PKCS1_PEM.encode(),  # PKCS#1, as bytes
            "TICKET_KEY_ID": " ticket-2025 ",
            "TICKET_ISSUER": "http://local.openedx.io:8000/",
            "TICKET_TTL": "60",
            "SIGN_IN": "lms",
        },
        "https://ignored.example.com",
    )
    assert config.key_id == "ticket-2025"
    assert config.issuer == "http://local.openedx.io:8000"
    assert config.ttl == 60
    assert config.sign_in == "lms"
    assert config.private_key.key_size == 2048


@pytest.mark.parametrize("ttl", [30, 300, "30", 120])
def test_ticket_ttl_range(ttl):
    assert parse_ticket_settings({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": ttl}, ISSUER).ttl == int(ttl)


@pytest.mark.parametrize(
    ("bucket", "default_issuer", "key", "fragment"),
    [
        ({}, ISSUER, "TICKET_PRIVATE_KEY", "is missing"),
        ({"TICKET_PRIVATE_KEY": "  "}, ISSUER, "TICKET_PRIVATE_KEY", "is missing"),
        ({"TICKET_PRIVATE_KEY": 42}, ISSUER, "TICKET_PRIVATE_KEY", "must be a string"),
        ({"TICKET_PRIVATE_KEY": "secret"}, ISSUER, "TICKET_PRIVATE_KEY", "no -----BEGIN line"),
        (
            {"TICKET_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
            ISSUER,
            "TICKET_PRIVATE_KEY",
            "is not a PEM private key that can be read",
        ),
        ({"TICKET_PRIVATE_KEY": _PUBLIC_PEM}, ISSUER, "TICKET_PRIVATE_KEY", "is not a PEM private key"),
        ({"TICKET_PRIVATE_KEY": _SMALL_PEM}, ISSUER, "TICKET_PRIVATE_KEY", "is a 1024-bit RSA key"),
        ({"TICKET_PRIVATE_KEY": _EC_PEM}, ISSUER, "TICKET_PRIVATE_KEY", "is not an RSA key"),
        ({"TICKET_PRIVATE_KEY": _ENCRYPTED_PEM}, ISSUER, "TICKET_PRIVATE_KEY", "is an encrypted private key"),
        (
            {"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_KEY_ID": "two words"},
            ISSUER,
            "TICKET_KEY_ID",
            "printable ASCII",
        ),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_KEY_ID": 7}, ISSUER, "TICKET_KEY_ID", "must be a string"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY}, None, "TICKET_ISSUER", "LMS_ROOT_URL"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY}, "lms.example.com", "TICKET_ISSUER", "LMS_ROOT_URL must be"),
        (
            {"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_ISSUER": "ftp://x"},
            ISSUER,
            "TICKET_ISSUER",
            "must be an absolute URL",
        ),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": 29}, ISSUER, "TICKET_TTL", "between 30 and 300"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": 301}, ISSUER, "TICKET_TTL", "between 30 and 300"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": "5m"}, ISSUER, "TICKET_TTL", "whole number"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": 60.0}, ISSUER, "TICKET_TTL", "whole number"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_TTL": True}, ISSUER, "TICKET_TTL", "whole number"),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "SIGN_IN": "LMS"}, ISSUER, "SIGN_IN", 'must be "popup" or "lms"'),
        ({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "SIGN_IN": 1}, ISSUER, "SIGN_IN", 'must be "popup" or "lms"'),
        ("not a dict", ISSUER, None, "must be a dict"),
    ],
)
def test_invalid_ticket_settings_name_the_key(bucket, default_issuer, key, fragment):
    with pytest.raises(ConfigError) as info:
        parse_ticket_settings(bucket, default_issuer)
    assert info.value.key == key
    assert str(info.value).startswith(setting_path(key))
    assert fragment in info.value.problem
    # A key's material never appears in the error.
    for pem in (TICKET_PRIVATE_KEY, _SMALL_PEM, _EC_PEM, _ENCRYPTED_PEM):
        assert pem.splitlines()[1] not in str(info.value)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://chat.local.openedx.io", "https://chat.local.openedx.io"),
        ("HTTPS://Chat.Example.org:443/ibal", "https://chat.example.org"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://127.0.0.1:8080/prefix", "http://127.0.0.1:8080"),
        ("https://example.org:8443", "https://example.org:8443"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("http://[::1]", "http://[::1]"),
    ],
)
def test_url_origin(url, origin):
    assert url_origin(url) == origin
    assert parse_settings({"GATEWAY_URL": url}, "1").origin == origin


@pytest.mark.parametrize(("value", "expected"), [(1000, 1000), ("50000", 50000), (" 20000 ", 20000), ("", 12000)])
def test_unit_content_max_chars(value, expected):
    bucket = {"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "UNIT_CONTENT_MAX_CHARS": value}
    assert parse_ticket_settings(bucket, ISSUER).unit_content_max_chars == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (999, "must be between 1000 and 50000 characters, not 999"),
        (50001, "must be between 1000 and 50000 characters"),
        ("12k", "must be a whole number of characters"),
        (12000.0, "must be a whole number of characters"),
        (False, "must be a whole number of characters"),
    ],
)
def test_unit_content_max_chars_refused(value, fragment):
    with pytest.raises(ConfigError) as info:
        parse_ticket_settings({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "UNIT_CONTENT_MAX_CHARS": value}, ISSUER)
    assert info.value.key == "UNIT_CONTENT_MAX_CHARS"
    assert fragment in str(info.value)


def test_disclosure_text():
    bucket = {"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "DISCLOSURE_TEXT": "  Réponses générées par IA.  "}
    assert parse_ticket_settings(bucket, ISSUER).disclosure_text == "Réponses générées par IA."
    for bad, fragment in ((42, "must be a string"), ("x" * 1001, "is too long (1001 characters, at most 1000)")):
        with pytest.raises(ConfigError) as info:
            parse_ticket_settings({"TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "DISCLOSURE_TEXT": bad}, ISSUER)
        assert info.value.key == "DISCLOSURE_TEXT"
        assert fragment in str(info.value)


SERVICE_SECRET = "a-service-secret-0f9e8d7c"


def test_service_settings_default_to_the_gateway_url():
    bucket = {
        "GATEWAY_URL": "https://chat.local.openedx.io/",
        "SERVICE_CLIENT_ID": " ibal-openedx ",
        "SERVICE_CLIENT_SECRET": SERVICE_SECRET,
    }
    config = parse_service_settings(bucket)
    assert (config.service_url, config.client_id, config.client_secret) == (
        "https://chat.local.openedx.io",
        "ibal-openedx",
        SERVICE_SECRET,
    )
    assert SERVICE_SECRET not in repr(config)


def test_service_url_is_where_the_lms_reaches_the_gateway():
    bucket = {"SERVICE_URL": "http://llm:8000", "SERVICE_CLIENT_ID": "c", "SERVICE_CLIENT_SECRET": SERVICE_SECRET}
    assert parse_service_settings(bucket).service_url == "http://llm:8000"
    bucket["GATEWAY_URL"] = "https://chat.example.org"
    assert parse_service_settings(bucket).service_url == "http://llm:8000"


@pytest.mark.parametrize(
    ("bucket", "key", "fragment"),
    [
        ({}, "GATEWAY_URL", "is missing"),
        ({"SERVICE_URL": "ftp://llm"}, "SERVICE_URL", "must be an absolute URL"),
        (
            {"SERVICE_URL": "http://llm:8000", "SERVICE_CLIENT_SECRET": SERVICE_SECRET},
            "SERVICE_CLIENT_ID",
            "is missing",
        ),
        ({"SERVICE_URL": "http://llm", "SERVICE_CLIENT_ID": "two words"}, "SERVICE_CLIENT_ID", "printable ASCII"),
        ({"SERVICE_URL": "http://llm", "SERVICE_CLIENT_ID": 5}, "SERVICE_CLIENT_ID", "must be a string"),
        ({"SERVICE_URL": "http://llm", "SERVICE_CLIENT_ID": "c"}, "SERVICE_CLIENT_SECRET", "is missing"),
        (
            {"SERVICE_URL": "http://llm", "SERVICE_CLIENT_ID": "c", "SERVICE_CLIENT_SECRET": " "},
            "SERVICE_CLIENT_SECRET",
            "is missing",
        ),
        (
            {"SERVICE_URL": "http://llm", "SERVICE_CLIENT_ID": "c", "SERVICE_CLIENT_SECRET": 12345678},
            "SERVICE_CLIENT_SECRET",
            "must be a string, not int",
        ),
        ("not a dict", None, "must be a dict"),
    ],
)
def test_invalid_service_settings_name_the_key(bucket, key, fragment):
    with pytest.raises(ConfigError) as info:
        parse_service_settings(bucket)
    assert info.value.key == key
    assert str(info.value).startswith(setting_path(key))
    assert fragment in info.value.problem
    assert "12345678" not in str(info.value)
