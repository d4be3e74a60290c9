"""Unit tests of the XBLOCK_SETTINGS["IbalXBlock"] parser (no runtime involved)."""

import pytest

from ibal_xblock.config import ConfigError, derive_ws_url, parse_settings, setting_path


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
