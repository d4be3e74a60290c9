"""The gateway falls back to the tutoring styles' default prompts when a ticket or launch carries no
wording; they must stay the XBlock's, word for word."""

import re
from pathlib import Path

from ibal_xblock.ibal_xblock import STYLE_PROMPTS

GATEWAY_MATERIAL = Path(__file__).resolve().parents[3] / "gateway" / "src" / "domain" / "material.rs"


def _rust_string(source: str, variant: str) -> str:
    match = re.search(r"Self::" + variant + r" => \{\s*\"((?:[^\"\\]|\\.)*)\"", source, re.S)
    assert match, f"no default prompt for {variant} in {GATEWAY_MATERIAL}"
    # A backslash at the end of a line continues the string past the newline and the next indent.
    return re.sub(r"\\\n\s*", "", match.group(1))


def test_the_gateways_default_style_prompts_are_the_xblocks():
    source = GATEWAY_MATERIAL.read_text(encoding="utf-8")
    assert _rust_string(source, "Guide") == STYLE_PROMPTS["guide"]
    assert _rust_string(source, "Direct") == STYLE_PROMPTS["direct"]
