"""Tests of the Open edX plugin app (ibal_xblock/openedx/): course indexing and learner retirement."""
