"""Stand-in for ``opaque_keys.edx.keys`` (see ../../README.md): the keys of split-modulestore courses.

``CourseKey.from_string("course-v1:Org+Course+Run")`` and ``UsageKey.from_string("block-v1:Org+Course+Run+type@html
+block@intro")``, with the modulestore's branch as ``+branch@<name>`` when a key names one; ``for_branch(None)`` and
``version_agnostic()`` as in edx-opaque-keys' locators (this stand-in has no versions). Keys are equal when their
strings are.
"""

import re

from .. import InvalidKeyError

_PART = r"[\w.~-]+"
_COURSE = rf"({_PART})\+({_PART})\+({_PART})(?:\+branch@({_PART}))?"


class CourseKey:
    """A course, ``course-v1:Org+Course+Run`` (``…+branch@published-branch`` when it names a branch)."""

    _SYNTAX = re.compile(rf"^course-v1:{_COURSE}$")

    def __init__(self, org, course, run, branch=None):
        self.org, self.course, self.run, self.branch = org, course, run, branch

    @classmethod
    def from_string(cls, serialized):
        match = cls._SYNTAX.match(serialized or "")
        if not match:
            raise InvalidKeyError(cls, serialized)
        return cls(*match.groups())

    def for_branch(self, branch):
        return CourseKey(self.org, self.course, self.run, branch)

    def version_agnostic(self):
        return self

    def make_usage_key(self, block_type, block_id):
        return UsageKey(self, block_type, block_id)

    def __str__(self):
        branch = f"+branch@{self.branch}" if self.branch else ""
        return f"course-v1:{self.org}+{self.course}+{self.run}{branch}"

    def __repr__(self):
        return f"CourseKey({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, CourseKey) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


class UsageKey:
    """A block of a course, ``block-v1:Org+Course+Run+type@html+block@intro``."""

    _SYNTAX = re.compile(rf"^block-v1:{_COURSE}\+type@({_PART})\+block@({_PART})$")

    def __init__(self, course_key, block_type, block_id):
        self.course_key, self.block_type, self.block_id = course_key, block_type, block_id

    @classmethod
    def from_string(cls, serialized):
        match = cls._SYNTAX.match(serialized or "")
        if not match:
            raise InvalidKeyError(cls, serialized)
        org, course, run, branch, block_type, block_id = match.groups()
        return cls(CourseKey(org, course, run, branch), block_type, block_id)

    @property
    def context_key(self):
        """The course the block is in (a learning context, in edx-opaque-keys' words)."""
        return self.course_key

    def for_branch(self, branch):
        return UsageKey(self.course_key.for_branch(branch), self.block_type, self.block_id)

    def version_agnostic(self):
        return self

    def __str__(self):
        course = str(self.course_key).removeprefix("course-v1:")
        return f"block-v1:{course}+type@{self.block_type}+block@{self.block_id}"

    def __repr__(self):
        return f"UsageKey({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, UsageKey) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))
