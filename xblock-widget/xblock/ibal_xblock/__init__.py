"""IBAL XBlock: the IBAL chat (course assistant / live course room) in Open edX courses."""

__version__ = "0.1.0"

from .ibal_xblock import IbalXBlock

__all__ = ["IbalXBlock", "__version__"]
