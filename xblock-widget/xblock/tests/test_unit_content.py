"""The unit's content as the chat ticket carries it, over fake blocks shaped like edx-platform's.

The fakes have edx-platform's attribute names: HtmlBlock ``data`` (HTML), ProblemBlock ``data``
(CAPA XML), VideoBlock ``transcripts`` / ``sub`` / ``get_transcripts_info()`` /
``get_transcript(transcripts, transcript_format, lang)``, the LMS's ``visible_to_staff_only``,
``start`` and ``group_access``, and a sequential's exam flags.
"""

import logging
import sys
import types
from datetime import UTC, datetime, timedelta

import pytest

from ibal_xblock.unit_content import (
    Part,
    Viewer,
    capa_question_text,
    cut_at_word,
    fit_parts,
    gather,
    html_to_text,
    is_exam_subsection,
    is_visible,
    video_transcript_text,
)

from .fakes import CAPA, CAPA_SECRETS, Block, Video

LEARNER = Viewer(staff=False, language="en")
STAFF = Viewer(staff=True, language="en")


def chat():
    return Block("ibalxblock", "IBAL Chat")


def html(name, data, **fields):
    return Block("html", name, data=data, **fields)


def unit_of(*children, title="Unit 1"):
    """A course/chapter/sequential/vertical chain around ``children``; returns the chat block among them."""
    vertical = Block("vertical", title, children=children)
    sequential = Block("sequential", "Subsection A", children=[vertical])
    chapter = Block("chapter", "Section 1", children=[sequential])
    Block("course", "Biology 101", children=[chapter])
    return vertical


def unit_text(*children, viewer=LEARNER, max_chars=12000):
    the_chat = next(child for child in children if child.scope_ids.block_type == "ibalxblock")
    unit_of(*children)
    return gather(the_chat, viewer, max_chars).unit


# ------------------------------------------------------------------ HTML


def test_html_becomes_readable_text():
    text = html_to_text(
        "<h2>Light &amp; dark</h2>\n<p>Plants   use <b>light</b>\n to make\tsugar&nbsp;&mdash; fast.</p>"
        "<script>var answer = 42;</script><style>p { color: red }</style>"
        "<ul><li>one</li><li>two</li></ul>Tail<br>next line<p>caf&eacute; &#8364;5 &lt;tag&gt;</p>"
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>"
        "<!-- a comment --><template><p>never</p></template>"
    )
    assert text == (
        "Light & dark\n\nPlants use light to make sugar\xa0— fast.\n\n- one\n- two\n\nTail\nnext line\n\n"
        "café €5 <tag>\n\na b\nc d"
    )


def test_html_keeps_preformatted_text():
    assert html_to_text("<p>Code:</p><pre>def f():\n    return 1</pre>") == "Code:\n\ndef f():\n    return 1"


def test_html_control_characters_and_empty_markup():
    assert html_to_text("<p>a\x00b\x07c</p>") == "abc"
    assert html_to_text("<div><img src='x.png' alt='diagram'><iframe src='https://y'></iframe></div>") == ""


# ------------------------------------------------------------------ CAPA


def test_capa_question_text_has_the_question_and_no_answers():
    text = capa_question_text(CAPA)
    for expected in (
        "Cells need energy.",
        "Which organelle makes ATP?",
        "Pick the best answer.",
        "- Nucleus\n- Mitochondria\n- Ribosome",  # authored order, no marks
        "Which cycle follows glycolysis?",
        "ATP stands for adenosine ___ phosphate.\n\n- mono\n- di\n- tri",
        "Which are products of respiration?",
        "Name it again.",
    ):
        assert expected in text, expected
    for secret in CAPA_SECRETS:
        assert secret not in text, secret


def test_shuffled_choices_are_sorted_so_their_order_tells_nothing():
    text = capa_question_text(CAPA)
    assert "- Carbon dioxide\n- Glucose\n- Water" in text


def test_new_style_drop_down_options_have_no_marks():
    text = capa_question_text(
        "<problem><optionresponse><label>Colour?</label><optioninput>"
        '<option correct="False">Red<optionhint>No</optionhint></option>'
        '<option correct="True">Blue<optionhint>Yes, blue</optionhint></option>'
        "</optioninput></optionresponse></problem>"
    )
    assert text == "Colour?\n\n- Red\n- Blue"


def test_numerical_and_formula_answers_are_attributes_and_never_read():
    text = capa_question_text(
        '<problem><numericalresponse answer="9.81"><label>g in m/s²?</label>'
        '<responseparam type="tolerance" default="0.01"/><formulaequationinput/></numericalresponse>'
        '<formularesponse type="ci" samples="x@1:2#10" answer="x^2"><label>Square x</label>'
        '<responseparam type="tolerance" default="0.00001"/><textline size="10"/></formularesponse>'
        "<coderesponse><label>Write f.</label><codeparam><initial_display>def f():</initial_display>"
        '<answer_display>def f(): return 1</answer_display><grader_payload>{"grader": "x"}</grader_payload>'
        "</codeparam></coderesponse></problem>"
    )
    assert text == "g in m/s²?\n\nSquare x\n\nWrite f."


def test_problems_that_are_not_capa_give_nothing():
    parts = [
        Block("problem", "Not CAPA", data="Just text, no problem markup"),
        Block("drag-and-drop-v2", "Drag", data='{"items": [{"zone": "correct answer"}]}'),
        Block("openassessment", "Essay", prompt="Write an essay", rubric_criteria=[]),
        Block("problem", "Broken", data=None),
    ]
    unit = unit_text(*parts, chat())
    assert unit.text == ""
    assert unit.truncated is False


# ------------------------------------------------------------------ video


def test_transcript_in_the_learners_language():
    video = Video(texts={"en": "Hello class.", "fr": "Bonjour la classe.\n\n  Deuxième   ligne."}, sub="en-sub")
    assert video_transcript_text(video, "fr") == "Bonjour la classe.\n\nDeuxième ligne."
    assert video.asked == [("fr", "txt")]


@pytest.mark.parametrize(("language", "expected"), [("pt-BR", "Olá (br)"), ("pt_br", "Olá (br)"), ("pt-PT", "Olá")])
def test_transcript_language_variants(language, expected):
    video = Video(texts={"en": "Hello", "pt-br": "Olá (br)", "pt": "Olá"})
    assert video_transcript_text(video, language) == expected


def test_transcript_falls_back_to_english():
    video = Video(texts={"en": "Hello class."}, sub="en-sub")
    assert video_transcript_text(video, "de") == "Hello class."
    missing = Video(texts={"en": "Hello class.", "de": "Hallo"}, missing={"de"})
    assert video_transcript_text(missing, "de") == "Hello class."
    assert missing.asked == [("de", "txt"), ("en", "txt")]


def test_no_transcript_in_the_learners_language_nor_in_english():
    assert video_transcript_text(Video(texts={"es": "Hola"}), "de") == ""
    assert video_transcript_text(Video(), "en") == ""


def test_transcript_through_edx_platforms_module_function(monkeypatch):
    """Newer edx-platform: no get_transcript method, the function in transcripts_utils."""
    calls = []

    def get_transcript(video, lang=None, output_format="srt"):
        calls.append((video.scope_ids.block_type, lang, output_format))
        return "Module transcript", "en.txt", "text/plain"

    names = ["xmodule", "xmodule.video_block", "xmodule.video_block.transcripts_utils"]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["xmodule.video_block.transcripts_utils"].get_transcript = get_transcript
    video = Block("video", "Lecture", transcripts={"en": "lecture.srt"}, sub="")
    assert video_transcript_text(video, "en") == "Module transcript"
    assert calls == [("video", "en", "txt")]


def test_video_in_a_unit_uses_the_viewers_language():
    video = Video("Lecture 1", texts={"en": "Hello class.", "fr": "Bonjour la classe."}, sub="en-sub")
    unit = unit_text(video, chat(), viewer=Viewer(language="fr"))
    assert unit.text == "Lecture 1\nBonjour la classe."


# ------------------------------------------------------------- visibility

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_staff_only_components_are_left_out_for_learners():
    parts = (
        html("Public", "<p>Everyone reads this.</p>"),
        html("Staff", "<p>Staff notes.</p>", visible_to_staff_only=True),
        chat(),
    )
    assert unit_text(*parts).text == "Public\nEveryone reads this."
    assert unit_text(*parts, viewer=STAFF).text == "Public\nEveryone reads this.\n\nStaff\nStaff notes."


@pytest.mark.parametrize(
    ("start", "visible"),
    [
        (NOW + timedelta(days=1), False),
        ((NOW + timedelta(minutes=1)).replace(tzinfo=None), False),  # naive: UTC, as edx-platform stores it
        (NOW - timedelta(days=1), True),
        (None, True),
    ],
)
def test_unreleased_components_are_left_out_for_learners(start, visible):
    block = html("Later", "<p>Next week.</p>", start=start)
    assert is_visible(block, Viewer(now=NOW)) is visible
    assert is_visible(block, Viewer(staff=True, now=NOW)) is True


def test_group_restricted_components():
    restricted = html("Verified only", "<p>Bonus.</p>", group_access={50: [2], 51: []})
    open_to_all = html("Everyone", "<p>Hi.</p>", group_access={50: []})
    asked = []

    def member(groups):
        asked.append(groups)
        return True

    def raises(_groups):
        raise RuntimeError("partition service down")

    assert is_visible(open_to_all, LEARNER) is True
    assert is_visible(restricted, LEARNER) is False  # no way to check: left out
    assert is_visible(restricted, Viewer(in_groups=member)) is True
    assert asked == [{50: [2]}]  # only the restricting entries
    assert is_visible(restricted, Viewer(in_groups=lambda _groups: False)) is False
    assert is_visible(restricted, Viewer(in_groups=lambda _groups: "yes")) is False
    assert is_visible(restricted, Viewer(in_groups=raises)) is False
    assert is_visible(html("Odd", "<p>x</p>", group_access=["not", "a", "dict"]), LEARNER) is False
    assert is_visible(restricted, STAFF) is True


def test_components_the_lms_returns_with_an_access_error_are_left_out():
    gated = html("Gated", "<p>Upgrade to read.</p>", has_access_error=True)
    assert is_visible(gated, LEARNER) is False
    assert is_visible(gated, STAFF) is False


def test_other_chat_blocks_and_the_chat_itself_are_skipped():
    other = Block("ibalxblock", "Another chat", data="<p>not content</p>", assistant_instructions="secret")
    unit = unit_text(html("A", "<p>Alpha.</p>"), other, chat(), html("B", "<p>Beta.</p>"))
    assert unit.text == "A\nAlpha.\n\nB\nBeta."


def test_blocks_of_unknown_types_give_nothing():
    unit = unit_text(Block("discussion", "Forum", discussion_category="x"), Block("lti_consumer", "Tool"), chat())
    assert unit.text == ""


# -------------------------------------------------------------------- cap


def test_parts_are_in_unit_order_with_display_names_and_the_unit_titles():
    video = Video("Lecture", texts={"en": "Transcript."}, sub="s")
    problem = Block("problem", "Quiz", data=CAPA)
    the_chat = chat()
    unit_of(html("Intro", "<p>Welcome.</p>"), video, the_chat, problem, title="Respiration")
    context = gather(the_chat, LEARNER, 12000)
    assert context.course_title == "Biology 101"
    assert (context.unit.section, context.unit.subsection, context.unit.title) == (
        "Section 1",
        "Subsection A",
        "Respiration",
    )
    assert context.unit.text.startswith("Intro\nWelcome.\n\nLecture\nTranscript.\n\nQuiz\nCells need energy.")
    assert context.exam is False
    assert context.unit.truncated is False


def test_components_without_a_display_name_are_named_by_their_type():
    unit = unit_text(
        Block("html", "", data="<p>x</p>"), Block("problem", None, data="<problem><p>q</p></problem>"), chat()
    )
    assert unit.text == "Text\nx\n\nProblem\nq"


def test_the_cap_keeps_the_parts_nearest_the_chat():
    far = html("Far", "<p>" + "far " * 200 + "</p>")
    near_before = html("Before", "<p>" + "before " * 100 + "</p>")
    the_chat = chat()
    near_after = html("After", "<p>" + "after " * 100 + "</p>")
    farther_after = html("Later", "<p>" + "later " * 300 + "</p>")
    unit_of(far, near_before, the_chat, near_after, farther_after)
    unit = gather(the_chat, LEARNER, 1500).unit
    assert len(unit.text) <= 1500
    assert unit.truncated is True
    # Both neighbours whole; then, of the two parts two away, the first in the unit, cut between words;
    # the rest left out. Emitted in unit order.
    cut, before, after = unit.text.split("\n\n")
    assert before == "Before\n" + ("before " * 100).strip()
    assert after == "After\n" + ("after " * 100).strip()
    assert cut.startswith("Far\nfar far") and cut.endswith(" far")
    assert len(unit.text) > 1500 - len("far ")
    assert "Later" not in unit.text


def test_the_cut_part_is_the_nearest_that_does_not_fit():
    the_chat = chat()
    unit_of(html("A", "<p>" + "alpha " * 50 + "</p>"), the_chat, html("B", "<p>" + "beta " * 400 + "</p>"))
    unit = gather(the_chat, LEARNER, 1000).unit
    assert unit.truncated is True
    assert len(unit.text) <= 1000
    a, b = unit.text.split("\n\n")
    assert a == "A\n" + ("alpha " * 50).strip()
    assert b.startswith("B\nbeta beta") and b.endswith("beta")


def test_exactly_the_cap_is_not_truncated():
    parts = [Part(0, "A", "A\n" + "a" * 498), Part(2, "B", "B\n" + "b" * 498)]
    text, truncated = fit_parts(parts, 1, 1002)
    assert len(text) == 1002 and truncated is False
    text, truncated = fit_parts(parts, 1, 1001)
    # No whitespace near the cut (a word longer than the window, or a script without spaces): cut where it must.
    assert truncated is True and text == "A\n" + "a" * 498 + "\n\nB\n" + "b" * 497


def test_a_part_is_dropped_rather_than_left_as_a_bare_title():
    parts = [Part(0, "Near", "Near\n" + "word " * 10), Part(5, "A long display name", "A long display name\nbody")]
    text, truncated = fit_parts(parts, 1, len(parts[0].text) + 10)
    assert text == parts[0].text and truncated is True


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("alpha beta gamma", 100, "alpha beta gamma"),
        ("alpha beta gamma", 10, "alpha beta"),
        ("alpha beta gamma", 9, "alpha"),
        ("alpha beta gamma", 11, "alpha beta"),
        ("alphabetagamma", 5, "alpha"),  # no whitespace near: cut where it must
        ("光合作用是植物利用光能的过程", 4, "光合作用"),
        ("x", 0, ""),
    ],
)
def test_cut_at_word(text, limit, cut):
    assert cut_at_word(text, limit) == cut


# ---------------------------------------------------------- exam, failures


@pytest.mark.parametrize(
    "flag", ["is_time_limited", "is_proctored_exam", "is_proctored_enabled", "is_practice_exam", "is_onboarding_exam"]
)
def test_exam_subsections(flag):
    assert is_exam_subsection(Block("sequential", **{flag: True})) is True
    assert is_exam_subsection(Block("sequential", **{flag: "true"})) is False  # only a real True counts


def test_exam_from_the_chat_blocks_subsection():
    the_chat = chat()
    vertical = unit_of(html("Q", "<p>Question.</p>"), the_chat)
    vertical.parent.is_time_limited = True
    assert gather(the_chat, LEARNER, 12000).exam is True
    assert is_exam_subsection(None) is False


def test_a_block_outside_a_unit_has_no_context():
    context = gather(chat(), LEARNER, 12000)
    assert context.course_title == ""
    assert context.unit.as_claim() == {"section": "", "subsection": "", "title": "", "text": "", "truncated": False}
    assert context.exam is False


class Exploding(Block):
    """A component whose content cannot be read (an LMS service that raises)."""

    @property
    def data(self):
        raise RuntimeError("contentstore is down: Mitochondria secret")


def test_failures_leave_the_part_out_with_one_debug_line_and_no_content(caplog):
    broken = Exploding("html", "Broken")
    with caplog.at_level(logging.DEBUG, logger="ibal_xblock"):
        unit = unit_text(html("Fine", "<p>Readable.</p>"), broken, chat())
    assert unit.text == "Fine\nReadable."
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert "left out (RuntimeError)" in record.getMessage()
    assert str(broken.scope_ids.usage_id) in record.getMessage()
    assert "Readable" not in caplog.text and "Mitochondria" not in caplog.text


def test_unreadable_children_and_parents_give_an_empty_unit(caplog):
    class NoChildren(Block):
        def get_children(self):
            raise RuntimeError("modulestore")

    class NoParent(Block):
        def get_parent(self):
            raise RuntimeError("no access")

    the_chat = chat()
    vertical = NoChildren("vertical", "Unit")
    the_chat.parent = vertical
    with caplog.at_level(logging.DEBUG, logger="ibal_xblock"):
        context = gather(the_chat, LEARNER, 12000)
        orphan = gather(NoParent("ibalxblock"), LEARNER, 12000)
    assert context.unit.title == "Unit" and context.unit.text == ""
    assert orphan.unit.title == ""
    assert len(caplog.records) == 2


def test_the_unit_text_never_logs_content(caplog):
    with caplog.at_level(logging.DEBUG):
        unit = unit_text(html("Public", "<p>Photosynthesis facts.</p>"), Block("problem", "Q", data=CAPA), chat())
    assert "Photosynthesis" in unit.text
    assert "Photosynthesis" not in caplog.text and "Mitochondria" not in caplog.text
