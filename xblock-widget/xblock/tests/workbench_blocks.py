"""Open edX-shaped blocks for the xblock-sdk workbench: test scaffolding, never installed with the package.

xblock-sdk's own blocks have none of the fields the chat block reads in the LMS: titles
(``display_name``), visibility (``visible_to_staff_only``, ``start``) and a sequential's exam
flags (``is_time_limited``…), and its ``html_demo`` ignores XML attributes. These blocks carry
those fields under edx-platform's block types (``course``, ``chapter``, ``sequential``,
``vertical``, ``html``, ``problem``, with ``data`` as edx-platform stores it), so a workbench
scenario written as course OLX goes through the same extraction as a course in the LMS.

tests/workbench_settings.py registers them (``register()``); their scenarios are
``course.<n>`` in the workbench.
"""

import copy
import html
from importlib.metadata import EntryPoint

from lxml import etree
from web_fragments.fragment import Fragment
from xblock.core import XBlock
from xblock.fields import Boolean, DateTime, Scope, String

#: (block type, class) of the blocks below, as the workbench loads them.
BLOCK_TYPES = {
    "course": "OlxCourse",
    "chapter": "OlxChapter",
    "sequential": "OlxSequential",
    "vertical": "OlxVertical",
    "html": "OlxHtml",
    "problem": "OlxProblem",
}


def register():
    """Make the blocks loadable by their block types (XBlock's own mechanism for plugins outside packages)."""
    registered = {name for name, _entry_point in XBlock.extra_entry_points}
    for block_type, class_name in BLOCK_TYPES.items():
        if block_type not in registered:
            entry_point = EntryPoint(name=block_type, value=f"{__name__}:{class_name}", group="xblock.v1")
            XBlock.extra_entry_points.append((block_type, entry_point))


def _viewer_is_staff(block):
    return getattr(block.runtime, "user_is_staff", False) is True


class _Container(XBlock):
    """A course, chapter, sequential or vertical: a title and children, rendered one after the other."""

    has_children = True
    display_name = String(default="", scope=Scope.settings)

    def student_view(self, context=None):
        fragment = Fragment()
        fragment.add_content(f"<div class='olx-{self.scope_ids.block_type}'>")
        for child_id in self.children:
            child = self.runtime.get_block(child_id)
            child_fragment = self.runtime.render_child(child, "student_view", context)
            fragment.add_fragment_resources(child_fragment)
            fragment.add_content(child_fragment.body_html())
        fragment.add_content("</div>")
        return fragment


class OlxCourse(_Container):
    """The course: its title is the ticket's course_title."""

    @staticmethod
    def workbench_scenarios():
        return [
            (
                "IBAL Chat in a course unit with a staff-only HTML component",
                """<course display_name="IBAL Demo Course">
                    <chapter display_name="Week 1: Plants">
                        <sequential display_name="Photosynthesis">
                            <vertical display_name="The light reactions">
                                <html display_name="Reading"><h3>The light reactions</h3>
                                    <p>Chlorophyll absorbs light &amp; splits water, releasing oxygen.</p></html>
                                <html display_name="Notes for staff" visible_to_staff_only="true"><p>Staff only:
                                    the quiz answer is B.</p></html>
                                <problem display_name="Check your understanding">
                                    <multiplechoiceresponse>
                                        <label>Which gas do the light reactions release?</label>
                                        <choicegroup type="MultipleChoice">
                                            <choice correct="false">Carbon dioxide</choice>
                                            <choice correct="true">Oxygen<choicehint>Right: water is
                                                split.</choicehint></choice>
                                        </choicegroup>
                                    </multiplechoiceresponse>
                                    <solution><p>The solution: oxygen comes from water.</p></solution>
                                </problem>
                                <ibalxblock display_name="Photosynthesis assistant"/>
                            </vertical>
                        </sequential>
                    </chapter>
                </course>""",
            ),
            (
                "IBAL Chat in a timed exam",
                """<course display_name="IBAL Demo Course">
                    <chapter display_name="Week 2: Exam">
                        <sequential display_name="Midterm" is_time_limited="true">
                            <vertical display_name="Question 1">
                                <html display_name="Instructions"><p>Answer without help: exam question one.</p></html>
                                <ibalxblock display_name="Exam assistant"/>
                            </vertical>
                        </sequential>
                    </chapter>
                </course>""",
            ),
        ]


class OlxChapter(_Container):
    """A section."""


class OlxSequential(_Container):
    """A subsection, with edx-platform's timed / proctored exam flags."""

    is_time_limited = Boolean(default=False, scope=Scope.settings)
    is_proctored_enabled = Boolean(default=False, scope=Scope.settings)
    is_practice_exam = Boolean(default=False, scope=Scope.settings)


class OlxVertical(_Container):
    """A unit."""


class OlxHtml(XBlock):
    """An HTML component: ``data`` is its HTML, as in edx-platform; visibility as the LMS's fields say."""

    display_name = String(default="Text", scope=Scope.settings)
    data = String(default="", scope=Scope.content)
    visible_to_staff_only = Boolean(default=False, scope=Scope.settings)
    start = DateTime(default=None, scope=Scope.settings)

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        block = runtime.construct_xblock_from_class(cls, keys)
        for name, value in node.items():
            cls._set_field_if_present(block, name, value, {})
        block.data = (node.text or "") + "".join(etree.tostring(child, encoding="unicode") for child in node)
        return block

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        # The workbench has no access control of its own: a learner is not shown staff-only content here either.
        if self.visible_to_staff_only and not _viewer_is_staff(self):
            return Fragment("")
        return Fragment(f"<div class='olx-html'>{self.data}</div>")


class OlxProblem(XBlock):
    """A CAPA problem: ``data`` is its ``<problem>`` XML without the component's own attributes, as edx-platform
    stores it. Shown by its title only: the workbench does not run CAPA."""

    display_name = String(default="Problem", scope=Scope.settings)
    data = String(default="", scope=Scope.content)

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        block = runtime.construct_xblock_from_class(cls, keys)
        for name, value in node.items():
            cls._set_field_if_present(block, name, value, {})
        problem = copy.deepcopy(node)
        problem.attrib.clear()
        problem.tail = None
        block.data = etree.tostring(problem, encoding="unicode")
        return block

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        return Fragment(f"<div class='olx-problem'><p>{html.escape(self.display_name)}</p></div>")
