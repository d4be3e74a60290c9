"""The Django app, and how edx-platform's plugin framework wires it in."""

from typing import Any, ClassVar

from django.apps import AppConfig

#: The signals this app listens to, by edx-platform project. Module-level names, because the plugin framework
#: imports each ``signal_path`` with Django's ``import_string`` (``xmodule.modulestore.django`` exports every
#: ``SignalHandler`` signal under its upper-case name, e.g. ``COURSE_PUBLISHED`` is ``SignalHandler.course_published``).
COURSE_PUBLISHED_SIGNAL = "xmodule.modulestore.django.COURSE_PUBLISHED"
COURSE_DELETED_SIGNAL = "xmodule.modulestore.django.COURSE_DELETED"
LEARNER_RETIRED_SIGNAL = "openedx.core.djangoapps.user_api.accounts.signals.USER_RETIRE_LMS_MISC"


class IbalOpenedxConfig(AppConfig):
    """IBAL's course indexing (Studio) and learner retirement (LMS).

    ``plugin_app`` is written with the plugin framework's string keys rather than the constants of
    ``edx_django_utils.plugins``, so that this module imports where edx-django-utils is absent.
    """

    name = "ibal_xblock.openedx"
    label = "ibal_openedx"
    verbose_name = "IBAL course index and learner retirement"

    plugin_app: ClassVar[dict[str, Any]] = {
        "signals_config": {
            "cms.djangoapp": {
                "relative_path": "signals",
                "receivers": [
                    {
                        "receiver_func_name": "course_published",
                        "signal_path": COURSE_PUBLISHED_SIGNAL,
                        "dispatch_uid": "ibal_xblock.openedx.signals.course_published",
                    },
                    {
                        "receiver_func_name": "course_deleted",
                        "signal_path": COURSE_DELETED_SIGNAL,
                        "dispatch_uid": "ibal_xblock.openedx.signals.course_deleted",
                    },
                ],
            },
            "lms.djangoapp": {
                "relative_path": "signals",
                "receivers": [
                    {
                        "receiver_func_name": "learner_retired",
                        "signal_path": LEARNER_RETIRED_SIGNAL,
                        "dispatch_uid": "ibal_xblock.openedx.signals.learner_retired",
                    },
                ],
            },
        },
    }
