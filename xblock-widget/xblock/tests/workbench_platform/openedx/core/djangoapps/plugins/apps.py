"""edx-platform's plugins app: it connects the plugin apps' signal receivers as Django starts.

As in edx-platform, ``ready()`` asks edx-django-utils' plugin framework to connect the receivers that each plugin
app of the project (the ``lms.djangoapp`` or ``cms.djangoapp`` entry points) declares in its AppConfig's
``plugin_app["signals_config"]``; the project is the LMS when ``ROOT_URLCONF`` is ``lms.urls``, else Studio.
"""

from django.apps import AppConfig
from django.conf import settings
from edx_django_utils.plugins import connect_plugin_receivers

from .constants import ProjectType


class PluginsConfig(AppConfig):
    """Application Configuration for Plugins."""

    name = "openedx.core.djangoapps.plugins"

    plugin_app = {}  # noqa: RUF012 - edx-platform's attribute

    def ready(self):
        """Connect plugin receivers to their signals."""
        project_type = ProjectType.LMS if settings.ROOT_URLCONF == "lms.urls" else ProjectType.CMS
        connect_plugin_receivers(project_type)
