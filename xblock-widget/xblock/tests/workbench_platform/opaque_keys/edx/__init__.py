"""Stand-in for ``opaque_keys.edx`` (see ../../README.md)."""
