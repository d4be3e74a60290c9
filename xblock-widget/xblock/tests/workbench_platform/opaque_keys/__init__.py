"""Stand-in for edx-opaque-keys' ``opaque_keys`` (see ../README.md): the error its parsers raise."""


class InvalidKeyError(Exception):
    """A string that is not a key of the class asked for (``InvalidKeyError(key_class, serialized)``)."""

    def __init__(self, key_class, serialized):
        super().__init__(f"{key_class.__name__}: {serialized}")
