"""Stand-in for edx-platform's ``openedx`` package (see the README.md of tests/workbench_platform)."""
