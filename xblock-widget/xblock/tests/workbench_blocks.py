"""Open edX-shaped blocks for the xblock-sdk workbench: test scaffolding, never installed with the package.

xblock-sdk's own blocks have none of the fields the chat block reads in the LMS: titles
(``display_name``), visibility (``visible_to_staff_only``, ``start``) and a sequential's exam
flags (``is_time_limited``…), and its ``html_demo`` ignores XML attributes. These blocks carry
those fields under edx-platform's block types (``course``, ``chapter``, ``sequential``,
``vertical``, ``html``, ``problem``, with ``data`` as edx-platform stores it, and ``video``
with VideoBlock's transcript API), so a workbench scenario written as course OLX goes through
the same extraction as a course in the LMS.

tests/workbench_settings.py registers them (``register()``); their scenarios are
``course.<n>`` in the workbench. A ``url_name`` attribute is, as in edx-platform's OLX, the block's id
(in the course the workbench publishes, tests/workbench_studio.py), not a field.
"""

import copy
import html
from importlib.metadata import EntryPoint

from lxml import etree
from web_fragments.fragment import Fragment
from xblock.core import XBlock
from xblock.fields import Boolean, DateTime, Dict, Scope, String

#: (block type, class) of the blocks below, as the workbench loads them.
BLOCK_TYPES = {
    "course": "OlxCourse",
    "chapter": "OlxChapter",
    "sequential": "OlxSequential",
    "vertical": "OlxVertical",
    "html": "OlxHtml",
    "problem": "OlxProblem",
    "video": "OlxVideo",
}


#: A course of three units: unit 1 explains where the Krebs cycle happens, unit 2 has a staff-only answer key, the
#: chat (``{chat}``) is in unit 3. Every block has a ``url_name``: the course the workbench publishes is keyed by them.
KREBS_COURSE = """<course display_name="IBAL Biology 201" url_name="course">
    <chapter display_name="Week 1: Cell energy" url_name="week1">
        <sequential display_name="Cellular respiration" url_name="respiration">
            <vertical display_name="Unit 1: The Krebs cycle" url_name="unit1">
                <html display_name="Where the Krebs cycle happens" url_name="krebs"><p>The Krebs
                    cycle happens in the mitochondrial matrix: each turn oxidises one acetyl group
                    to two molecules of carbon dioxide.</p></html>
            </vertical>
            <vertical display_name="Unit 2: Glycolysis" url_name="unit2">
                <html display_name="Glycolysis" url_name="glycolysis"><p>Glycolysis splits one
                    glucose molecule into two pyruvate molecules in the cytoplasm.</p></html>
                <html display_name="Answer key" url_name="answerkey" visible_to_staff_only="true">
                    <p>Staff only: the Krebs cycle quiz answer is C, codeword
                    AMBER-FALCON-17.</p></html>
            </vertical>
            <vertical display_name="Unit 3: Review" url_name="unit3">
                <html display_name="Review" url_name="review"><p>Look back over the week and
                    ask the assistant about anything still unclear.</p></html>
                {chat}
            </vertical>
        </sequential>
    </chapter>
</course>"""


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

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        node.attrib.pop("url_name", None)  # the block's id in edx-platform's OLX, no field
        return super().parse_xml(node, runtime, keys)

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
                                <video display_name="Inside the thylakoid">
                                    <transcript language="en" src="thylakoid-en.srt">
Photons excite electrons in photosystem two.
Water is split to replace them.
                                    </transcript>
                                    <transcript language="fr" src="thylakoid-fr.srt">
Les photons excitent les électrons du photosystème deux.
L'eau est scindée pour les remplacer.
                                    </transcript>
                                </video>
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
            # Published as the workbench's course (tests/workbench_studio.py): its blocks are named by url_name.
            (
                "IBAL Chat in unit 3 of a course, unit 1 explaining the Krebs cycle",
                KREBS_COURSE.format(chat='<ibalxblock display_name="Biology assistant"/>'),
            ),
            (
                "IBAL Chat's live room in unit 3 of the Krebs cycle course",
                KREBS_COURSE.format(chat='<ibalxblock display_name="Biology assistant" mode="room"/>'),
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


class _Component(XBlock):
    """A leaf component: its OLX attributes set as fields, and edx-platform's visibility fields."""

    visible_to_staff_only = Boolean(default=False, scope=Scope.settings)
    start = DateTime(default=None, scope=Scope.settings)

    @classmethod
    def _from_attributes(cls, node, runtime, keys):
        block = runtime.construct_xblock_from_class(cls, keys)
        for name, value in node.items():
            if name != "url_name":  # the block's id in edx-platform's OLX, no field
                cls._set_field_if_present(block, name, value, {})
        return block

    def _view(self, body):
        # The workbench has no access control of its own: a learner is not shown staff-only content here either.
        if self.visible_to_staff_only and not _viewer_is_staff(self):
            return Fragment("")
        return Fragment(body)


class OlxHtml(_Component):
    """An HTML component: ``data`` is its HTML, as in edx-platform; visibility as the LMS's fields say."""

    display_name = String(default="Text", scope=Scope.settings)
    data = String(default="", scope=Scope.content)

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        block = cls._from_attributes(node, runtime, keys)
        block.data = (node.text or "") + "".join(etree.tostring(child, encoding="unicode") for child in node)
        return block

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        return self._view(f"<div class='olx-html'>{self.data}</div>")


class OlxProblem(_Component):
    """A CAPA problem: ``data`` is its ``<problem>`` XML without the component's own attributes, as edx-platform
    stores it. Shown by its title only: the workbench does not run CAPA."""

    display_name = String(default="Problem", scope=Scope.settings)
    data = String(default="", scope=Scope.content)

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        block = cls._from_attributes(node, runtime, keys)
        problem = copy.deepcopy(node)
        problem.attrib.clear()
        problem.tail = None
        block.data = etree.tostring(problem, encoding="unicode")
        return block

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        return self._view(f"<div class='olx-problem'><p>{html.escape(self.display_name)}</p></div>")


class TranscriptNotFound(LookupError):
    """What edx-platform's transcript API raises (``NotFoundError``) for a language it has no file for."""


class OlxVideo(_Component):
    """A video component with edx-platform's VideoBlock transcript API, transcripts written in the OLX.

    The fields are VideoBlock's: ``sub`` (the English transcript's id, "" here) and ``transcripts``
    (``{language: file name}``), read from ``<transcript language="fr" src="…"/>`` child elements as in
    edx-platform's video OLX. Where edx-platform keeps each file in the course's content store (or
    edx-val), this stand-in keeps the file's plain text in ``transcript_files`` (``{file name: text}``),
    written as the ``<transcript>`` element's text::

        <video display_name="Lecture">
            <transcript language="en" src="lecture-en.srt">Hello class.</transcript>
            <transcript language="fr" src="lecture-fr.srt">Bonjour la classe.</transcript>
        </video>

    ``get_transcripts_info()`` and ``get_transcript(transcripts, transcript_format, lang)`` have the
    signatures and answers of edx-platform's (``{"sub", "transcripts"}`` without empty file names;
    ``(content, filename, mimetype)``, or an error for a language without a stored file). Only the
    ``txt`` format is produced: the workbench converts no SubRip. Shown by its title only: nothing plays.
    """

    display_name = String(default="Video", scope=Scope.settings)
    sub = String(default="", scope=Scope.settings)
    transcripts = Dict(default={}, scope=Scope.settings)
    transcript_files = Dict(default={}, scope=Scope.content)

    @classmethod
    def parse_xml(cls, node, runtime, keys):
        block = cls._from_attributes(node, runtime, keys)
        # A ``transcripts`` attribute (JSON, as in content libraries' OLX) names files this stand-in has no text for.
        transcripts, files = dict(block.transcripts or {}), {}
        for element in node.iterchildren("transcript"):
            language, src = element.get("language", ""), element.get("src", "")
            if language and src:
                transcripts[language] = src
                files[src] = element.text or ""
        block.transcripts = transcripts
        block.transcript_files = files
        return block

    def get_transcripts_info(self, is_bumper=False):  # noqa: ARG002 - edx-platform's signature; no bumper here
        """``{"sub": …, "transcripts": {language: file name}}``, files with an empty name left out (as edx-platform)."""
        transcripts = {language: name for language, name in (self.transcripts or {}).items() if name != ""}
        return {"sub": self.sub, "transcripts": transcripts}

    def get_transcript(self, transcripts, transcript_format="srt", lang=None):
        """``(content, filename, mimetype)`` of the transcript in ``lang`` (English: ``sub`` first), as edx-platform."""
        if transcript_format != "txt":
            raise TranscriptNotFound(f"the workbench stores no {transcript_format} transcripts")
        lang = lang or "en"
        names = [transcripts["sub"]] if lang == "en" and transcripts["sub"] else []
        names.append(transcripts["transcripts"].get(lang, ""))
        for name in names:
            if name and name in (self.transcript_files or {}):
                content = self.transcript_files[name]
                if not content.strip():
                    raise TranscriptNotFound("No transcript content")
                stem = name.rsplit(".", 1)[0]
                return content, f"{lang}_{stem}.txt", "text/plain; charset=utf-8"
        raise TranscriptNotFound(f"No transcript for `{lang}` language")

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        return self._view(f"<div class='olx-video'><p>{html.escape(self.display_name)}</p></div>")
