"""Stand-in for edx-platform's ``openedx.core.djangoapps`` package (see the README.md of tests/workbench_platform)."""
