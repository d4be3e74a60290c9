"""Fakes of the edx-platform modules the plugin app (ibal_xblock/openedx/) imports, with their names and shapes.

``install(monkeypatch)`` puts fresh copies into ``sys.modules`` for one test:

- ``opaque_keys`` / ``opaque_keys.edx.keys``: ``InvalidKeyError``, ``CourseKey.from_string`` (split-style
  ``course-v1:Org+Course+Run`` keys, with ``for_branch`` and ``version_agnostic``);
- ``xmodule.modulestore``: ``ModuleStoreEnum.Branch``; ``xmodule.modulestore.django``: ``modulestore()``,
  ``SignalHandler`` with its ``course_published`` / ``course_deleted`` signals, also exported as
  ``COURSE_PUBLISHED`` / ``COURSE_DELETED``, as edx-platform does;
- ``openedx.core.djangoapps.user_api.accounts.signals``: the retirement signals;
  ``openedx.core.djangoapps.user_api.models``: ``UserRetirementStatus``.

The modulestore holds courses built from the blocks of tests/fakes.py, whose usage keys carry the
published branch, as Studio's split modulestore hands them out under ``branch_setting``. The key classes and
``ModuleStoreEnum`` are the workbench's stand-ins (tests/workbench_platform), which the workbench imports under
edx-platform's names; here each test gets fresh modules of its own.
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from datetime import UTC, datetime

from django.dispatch import Signal

from tests import fakes

# The keys and constants are those of the workbench's stand-ins for edx-platform (tests/workbench_platform).
from tests.workbench_platform.opaque_keys import InvalidKeyError
from tests.workbench_platform.opaque_keys.edx.keys import CourseKey, UsageKey
from tests.workbench_platform.xmodule.modulestore import ModuleStoreEnum

PUBLISHED_BRANCH = ModuleStoreEnum.BranchName.published


class FakeModuleStore:
    """The courses Studio has published, and how they were asked for."""

    def __init__(self):
        self.courses = {}
        self.branch = None
        self.loads = []  # (course id, depth, branch) of every get_course

    def add(self, course):
        self.courses[str(course.id.for_branch(None))] = course

    @contextmanager
    def branch_setting(self, branch, course_id=None):  # noqa: ARG002 - edx-platform's signature
        previous, self.branch = self.branch, branch
        try:
            yield
        finally:
            self.branch = previous

    def get_course(self, course_key, depth=0, **kwargs):  # noqa: ARG002
        self.loads.append((str(course_key), depth, self.branch))
        return self.courses.get(str(course_key.for_branch(None)))

    def get_course_summaries(self, **kwargs):  # noqa: ARG002
        return [types.SimpleNamespace(id=course.id) for course in self.courses.values()]


class SignalHandler:
    """xmodule.modulestore.django.SignalHandler: the modulestore's signals, sent with ``course_key``."""

    def __init__(self, modulestore_class):
        self.modulestore_class = modulestore_class


class UserRetirementStatus:
    """The LMS's retirement record: the user, and the names they had before retirement."""

    class DoesNotExist(Exception):
        pass

    class _Manager:
        def __init__(self):
            self.records = []

        def get(self, user):
            for record in self.records:
                if record.user == user:
                    return record
            raise UserRetirementStatus.DoesNotExist

    objects = None  # a new manager for every install()

    def __init__(self, user, original_username, original_email="", retired_username=""):
        self.user = user
        self.original_username = original_username
        self.original_email = original_email
        self.retired_username = retired_username or f"retired__user_{user.id}"


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__path__ = []  # a package, so that its submodules import
    module.__dict__.update(attributes)
    return module


class Platform:
    """The fake edx-platform of one test: its modulestore, signals and retirement records."""

    def __init__(self):
        self.store = FakeModuleStore()
        self.course_published = Signal()
        self.course_deleted = Signal()
        self.user_retire_lms_misc = Signal()
        UserRetirementStatus.objects = UserRetirementStatus._Manager()
        self.retirements = UserRetirementStatus.objects.records
        SignalHandler.course_published = self.course_published
        SignalHandler.course_deleted = self.course_deleted

    def modules(self):
        keys = _module("opaque_keys.edx.keys", CourseKey=CourseKey, UsageKey=UsageKey)
        django_module = _module(
            "xmodule.modulestore.django",
            modulestore=lambda: self.store,
            SignalHandler=SignalHandler,
            COURSE_PUBLISHED=self.course_published,
            COURSE_DELETED=self.course_deleted,
        )
        accounts_signals = _module(
            "openedx.core.djangoapps.user_api.accounts.signals",
            USER_RETIRE_MAILINGS=Signal(),
            USER_RETIRE_LMS_CRITICAL=Signal(),
            USER_RETIRE_LMS_MISC=self.user_retire_lms_misc,
        )
        models = _module("openedx.core.djangoapps.user_api.models", UserRetirementStatus=UserRetirementStatus)
        modules = {
            "opaque_keys": _module("opaque_keys", InvalidKeyError=InvalidKeyError),
            "opaque_keys.edx": _module("opaque_keys.edx", keys=keys),
            "opaque_keys.edx.keys": keys,
            "xmodule": _module("xmodule"),
            "xmodule.modulestore": _module(
                "xmodule.modulestore", ModuleStoreEnum=ModuleStoreEnum, django=django_module
            ),
            "xmodule.modulestore.django": django_module,
            "openedx": _module("openedx"),
            "openedx.core": _module("openedx.core"),
            "openedx.core.djangoapps": _module("openedx.core.djangoapps"),
            "openedx.core.djangoapps.user_api": _module("openedx.core.djangoapps.user_api", models=models),
            "openedx.core.djangoapps.user_api.accounts": _module(
                "openedx.core.djangoapps.user_api.accounts", signals=accounts_signals
            ),
            "openedx.core.djangoapps.user_api.accounts.signals": accounts_signals,
            "openedx.core.djangoapps.user_api.models": models,
        }
        modules["xmodule"].modulestore = modules["xmodule.modulestore"]
        modules["opaque_keys"].edx = modules["opaque_keys.edx"]
        return modules


def install(monkeypatch):
    """Put a fresh fake edx-platform into ``sys.modules`` for the current test; returns it."""
    platform = Platform()
    for name, module in platform.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return platform


# ------------------------------------------------------------------ courses


def keyed(block, course_key, block_id, children=()):
    """Give a block of tests/fakes.py a usage key of the course (on the published branch) and its children."""
    key = course_key.for_branch(PUBLISHED_BRANCH).make_usage_key(block.scope_ids.block_type, block_id)
    block.scope_ids = types.SimpleNamespace(block_type=block.scope_ids.block_type, usage_id=key)
    block.location = key
    block.children = list(children)
    for child in block.children:
        child.parent = block
    return block


def block(course_key, block_type, block_id, display_name="", children=(), **fields):
    return keyed(fakes.Block(block_type, display_name, **fields), course_key, block_id, children)


def video(course_key, block_id, display_name, texts, **fields):
    return keyed(fakes.Video(display_name, texts=texts, **fields), course_key, block_id)


def course(course_id, title, sections, **fields):
    key = CourseKey.from_string(course_id)
    root = block(key, "course", "course", title, sections, **fields)
    root.id = key.for_branch(PUBLISHED_BRANCH)
    return root


READING = "<p>Chlorophyll absorbs <b>light</b> and splits water.</p><script>var secret = 1;</script>"
FUTURE = datetime(2031, 9, 1, 8, 30, tzinfo=UTC)


def biology(course_id="course-v1:IBAL+BIO101+2025"):
    """A course with the cases the index must tell apart.

    In Week 1, Photosynthesis, The light reactions: a reading, a CAPA problem (answers, hints, solution), a
    video with an English transcript, a chat block and a discussion (neither indexed); a staff-only unit;
    a subsection released later; a section for two cohorts whose unit narrows it to one (and a component
    for one enrollment track); a timed exam (left out); a content experiment (each child for its group).
    """
    key = CourseKey.from_string(course_id)
    return course(
        course_id,
        "Biology 101",
        [
            block(
                key,
                "chapter",
                "week1",
                "Week 1",
                [
                    block(
                        key,
                        "sequential",
                        "photosynthesis",
                        "Photosynthesis",
                        [
                            block(
                                key,
                                "vertical",
                                "light",
                                "The light reactions",
                                [
                                    block(key, "html", "reading", "Reading", data=READING),
                                    block(key, "problem", "quiz", "Quiz", data=fakes.CAPA),
                                    video(key, "lecture", "Lecture 1", {"en": "Welcome to the lecture.\nLight!"}),
                                    block(key, "ibalxblock", "chat", "IBAL Chat"),
                                    block(key, "discussion", "forum", "Discuss"),
                                ],
                            ),
                            block(
                                key,
                                "vertical",
                                "notes",
                                "Staff notes",
                                [block(key, "html", "key", "Answer key", data="<p>Grading notes for staff.</p>")],
                                visible_to_staff_only=True,
                            ),
                        ],
                    ),
                    block(
                        key,
                        "sequential",
                        "later",
                        "Later",
                        [
                            block(
                                key,
                                "vertical",
                                "soon",
                                "Coming soon",
                                [block(key, "html", "future", "", data="<p>Released later.</p>")],
                            )
                        ],
                        start=FUTURE,
                    ),
                ],
            ),
            block(
                key,
                "chapter",
                "cohorts",
                "Cohort work",
                [
                    block(
                        key,
                        "sequential",
                        "groupwork",
                        "Group work",
                        [
                            block(
                                key,
                                "vertical",
                                "teams",
                                "Teams",
                                [
                                    block(key, "html", "brief", "Brief", data="<p>Team brief.</p>"),
                                    block(
                                        key,
                                        "html",
                                        "verified",
                                        "Verified extra",
                                        data="<p>Extra.</p>",
                                        group_access={60: [2]},
                                    ),
                                ],
                                group_access={50: [2, 3]},
                            )
                        ],
                    )
                ],
                group_access={50: [1, 2], 51: []},
            ),
            block(
                key,
                "chapter",
                "final",
                "Final",
                [
                    block(
                        key,
                        "sequential",
                        "exam",
                        "Final exam",
                        [
                            block(
                                key,
                                "vertical",
                                "examunit",
                                "Exam",
                                [block(key, "problem", "q1", "Q1", data="<problem><p>Exam question.</p></problem>")],
                            )
                        ],
                        is_time_limited=True,
                    )
                ],
            ),
            block(
                key,
                "chapter",
                "lab",
                "Lab",
                [
                    block(
                        key,
                        "sequential",
                        "trial",
                        "Trial",
                        [
                            block(
                                key,
                                "vertical",
                                "variants",
                                "Variants",
                                [
                                    block(
                                        key,
                                        "split_test",
                                        "experiment",
                                        "Experiment",
                                        [
                                            block(key, "html", "variant_a", "A", data="<p>Variant A.</p>"),
                                            block(key, "html", "variant_b", "B", data="<p>Variant B.</p>"),
                                            block(key, "html", "variant_old", "Old", data="<p>Retired variant.</p>"),
                                        ],
                                        user_partition_id=70,
                                        group_id_to_child={
                                            "0": key.for_branch(PUBLISHED_BRANCH).make_usage_key("html", "variant_a"),
                                            "1": key.make_usage_key("html", "variant_b"),
                                        },
                                    )
                                ],
                            )
                        ],
                    )
                ],
            ),
        ],
        language="en",
        start=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
    )


def find(course_block, block_id):
    """The block of the course with that block id (the last part of its usage id)."""
    stack = [course_block]
    while stack:
        current = stack.pop()
        if current.scope_ids.usage_id.block_id == block_id:
            return current
        stack.extend(current.children)
    raise KeyError(block_id)
