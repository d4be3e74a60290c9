"""The workbench's URLs, and with a course (``IBAL_WORKBENCH_COURSE_ID``) Studio's Publish and the LMS's jump_to:
test scaffolding (tests/workbench_studio.py)."""

from django.urls import path, re_path
from workbench.urls import urlpatterns as workbench_urlpatterns

from tests import workbench_studio

urlpatterns = [
    path("ibal-workbench/publish/<str:scenario>/", workbench_studio.publish, name="ibal_workbench_publish"),
    re_path(r"^courses/(?P<course_id>[^/]+)/jump_to/(?P<location>[^/]+)/?$", workbench_studio.jump_to, name="jump_to"),
    *workbench_urlpatterns,
]
