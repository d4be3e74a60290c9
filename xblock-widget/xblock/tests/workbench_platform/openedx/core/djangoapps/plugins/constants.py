"""``ProjectType``: the entry point groups of edx-platform's plugin apps."""


class ProjectType:
    LMS = "lms.djangoapp"
    CMS = "cms.djangoapp"
