"""Tutor plugin "llm": the IBAL gateway (AI course assistant and live chat) for Open edX."""

from .__about__ import __version__

__all__ = ["__version__"]
