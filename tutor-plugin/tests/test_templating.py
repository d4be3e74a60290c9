"""Unit tests of the Jinja filters that turn the gateway environment into YAML."""

from __future__ import annotations

import pytest
import yaml
from tutor import exceptions

from tutorllm import templating

TRICKY = [
    "plain",
    'say "hi"',
    "it's",
    "a: b # not a comment",
    "$HOME and ${PATH}",
    '{"keys":[{"kid":"openedx","n":"abc-_"}]}',
    "ünïcödé ✅",
    "tab\there",
    "yes",
    "0123",
    "null",
    "- not a list",
]


def test_env_items_parses_lines() -> None:
    text = "\n# a comment\nA=1\n  B_2 = x=y  \nEMPTY=\n\nC=http://h/p?q=1#frag\n"
    assert templating.env_items(text) == [("A", "1"), ("B_2", "x=y"), ("C", "http://h/p?q=1#frag")]


@pytest.mark.parametrize("text", ["not a pair", "lower=1", "9X=1", "=value", "A-B=1"])
def test_env_items_rejects_malformed_lines(text: str) -> None:
    with pytest.raises(exceptions.TutorError, match="line 1"):
        templating.env_items(text)


def test_env_items_rejects_duplicates_without_printing_values() -> None:
    with pytest.raises(exceptions.TutorError, match="SECRET is set twice") as error:
        templating.env_items("SECRET=first-value\nSECRET=second-value")
    assert "value" not in str(error.value)


@pytest.mark.parametrize("value", TRICKY)
def test_yaml_str_round_trips(value: str) -> None:
    quoted = templating.yaml_str(value)
    assert "\n" not in quoted
    assert yaml.safe_load(f"key: {quoted}") == {"key": value}
    assert yaml.safe_load(f"- name: X\n  value: {quoted}") == [{"name": "X", "value": value}]


@pytest.mark.parametrize("value", TRICKY)
def test_compose_str_escapes_interpolation(value: str) -> None:
    loaded = yaml.safe_load(f"key: {templating.compose_str(value)}")["key"]
    # docker compose turns $$ back into $.
    assert loaded.replace("$$", "$") == value
    assert "$" not in loaded.replace("$$", "")


def test_url_quote() -> None:
    assert templating.url_quote("plain123") == "plain123"
    assert templating.url_quote("p@ss:w/rd%") == "p%40ss%3Aw%2Frd%25"


def test_filters_are_prefixed() -> None:
    assert all(name.startswith("llm_") for name, _ in templating.FILTERS)
