"""The Open edX side of the gateway's course index and learner retirement: a Django plugin app.

edx-platform loads it through its plugin framework (entry points ``lms.djangoapp`` and
``cms.djangoapp``, configured in apps.py). In Studio it pushes the published content of
every course to the gateway's course index when the course is published (and with the
``ibal_index`` management command); in the LMS it asks the gateway to delete a retired
learner's data.

Nothing here imports edx-platform at module level: edx_platform.py imports its modules inside
the functions that need them, so the package imports wherever the XBlock does (the
xblock-sdk workbench, the tests).
"""
