"""Stand-in for edx-platform's ``xmodule`` package (see ../README.md)."""
