"""Stand-in for edx-platform's plugins app (``openedx.core.djangoapps.plugins``)."""
