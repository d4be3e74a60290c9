"""What the learner sees in the chat block's unit, as plain text for the course assistant.

The chat ticket carries it, signed, so the gateway never has to take a browser's word for
what a unit says; the course index gets each component's text by the same rules
(openedx/course_blocks.py). Pure functions over duck-typed blocks: they read the attribute names of
edx-platform's blocks (``data`` of HtmlBlock and ProblemBlock, VideoBlock's transcripts,
``visible_to_staff_only``, ``start``, ``group_access``, the sequential's exam flags) and of
xblock-sdk's ``html_demo`` (``content``), and import nothing from either, so they can be
tested with plain objects.

Every read of a block is guarded: whatever fails (a missing attribute, an LMS service that
raises, markup that cannot be read) leaves that part out, with one debug line that names
the block and the exception type, never the content.

What is never taken: a problem's answers, correctness marks, solutions, hints, feedback
and grader code (only CAPA problems' question text is read; other problem types give
nothing), components this learner cannot see, and other chat blocks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

log = logging.getLogger(__name__)

#: Longest title (course, section, subsection, unit) a ticket carries.
MAX_TITLE_CHARS = 255

#: Separator between two components' parts in the unit text.
PART_SEPARATOR = "\n\n"

#: When no whitespace is found this close to a cut, the cut falls mid-word (e.g. text without spaces).
_WORD_CUT_WINDOW = 100

#: Block types of the chat block itself, skipped wherever they are.
CHAT_BLOCK_TYPES = frozenset({"ibalxblock"})

#: What a component is called in the unit text when it has no display name.
_TYPE_LABELS = {"html": "Text", "html_demo": "Text", "problem": "Problem", "video": "Video"}

# The sequential's flags in edx-platform that make a subsection a timed or proctored exam.
_EXAM_FLAGS = ("is_time_limited", "is_proctored_exam", "is_proctored_enabled", "is_practice_exam", "is_onboarding_exam")

# How many ancestors are climbed looking for the course (unit → subsection → section → course, with room to spare).
_MAX_ANCESTORS = 8

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the unit: what decides which components they see, and in which language.

    ``in_groups`` tells whether the viewer belongs to the groups a component's ``group_access``
    allows (``{partition id: [group ids]}``, only the restricting entries); without it a
    group-restricted component is left out.
    """

    staff: bool = False
    language: str = "en"
    now: datetime | None = None
    in_groups: Callable[[Mapping[Any, Any]], bool] | None = None


@dataclass(frozen=True)
class UnitContent:
    """The ``unit`` claim: where the chat is, and the text of the unit around it."""

    section: str = ""
    subsection: str = ""
    title: str = ""
    text: str = ""
    truncated: bool = False

    def as_claim(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "subsection": self.subsection,
            "title": self.title,
            "text": self.text,
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class CourseContext:
    """What the chat block's place in the course says: the course's title, the unit, and whether the
    subsection is a timed or proctored exam."""

    course_title: str = ""
    unit: UnitContent = UnitContent()
    exam: bool = False


@dataclass(frozen=True)
class Part:
    """One component's contribution: its position in the unit and its text (display name line first)."""

    position: int
    header: str
    text: str


# ------------------------------------------------------------------ helpers


def _left_out(what: str, block: Any, exc: BaseException) -> None:
    log.debug("IbalXBlock unit content: %s of %s left out (%s)", what, _describe(block), type(exc).__name__)


def _describe(block: Any) -> str:
    """The block's usage id for a log line (an identifier, never content)."""
    try:
        return str(block.scope_ids.usage_id)
    except Exception:  # noqa: BLE001 - only for a log line
        return type(block).__name__


def block_type(block: Any) -> str:
    try:
        value = block.scope_ids.block_type
    except Exception:  # noqa: BLE001 - not an XBlock: no type
        return ""
    return value if isinstance(value, str) else ""


def usage_id(block: Any) -> str:
    try:
        return str(block.scope_ids.usage_id)
    except Exception:  # noqa: BLE001
        return ""


def clean_text(text: str) -> str:
    """Text as a ticket may carry it: no control characters but line breaks and tabs, valid Unicode."""
    text = _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    # Lone surrogates (from a malformed field) cannot be encoded as UTF-8: replaced, not fatal.
    return text.encode("utf-8", "replace").decode("utf-8")


def display_name(block: Any) -> str:
    """The block's display name (edx-platform's ``display_name``, else ``display_name_with_default``), or ""."""
    for name in ("display_name", "display_name_with_default"):
        try:
            value = getattr(block, name, None)
        except Exception:  # noqa: BLE001 - a property that fails: try the next one
            continue
        if isinstance(value, str) and value.strip():
            return clean_text(" ".join(value.split()))[:MAX_TITLE_CHARS]
    return ""


def parent_of(block: Any) -> Any:
    """The block's parent, or None (no parent, or a runtime that cannot load it for this user)."""
    if block is None:
        return None
    try:
        return block.get_parent()
    except Exception as exc:  # noqa: BLE001
        _left_out("the parent", block, exc)
        return None


def children_of(block: Any) -> list[Any]:
    """The children this user may see: in the LMS ``get_children()`` leaves out the ones they may not load."""
    try:
        children = block.get_children()
    except Exception as exc:  # noqa: BLE001
        _left_out("the children", block, exc)
        return []
    return [child for child in (children or []) if child is not None]


def _true(block: Any, name: str) -> bool:
    try:
        return getattr(block, name, False) is True
    except Exception:  # noqa: BLE001 - unreadable: not set
        return False


def cut_at_word(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last whitespace before the cut when there is one
    close enough (text without spaces, e.g. Chinese, is cut where it must)."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if text[limit].isspace():
        return text[:limit].rstrip()
    head = text[:limit]
    for index in range(len(head) - 1, max(-1, len(head) - 1 - _WORD_CUT_WINDOW), -1):
        if head[index].isspace():
            return head[:index].rstrip()
    return head


# ------------------------------------------------------------ visibility


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def is_visible(block: Any, viewer: Viewer) -> bool:
    """Whether the viewer may see ``block`` in the unit. When unsure: no.

    The LMS already leaves out of ``get_children()`` what a user may not load; these checks
    repeat the rules that matter (staff-only, not yet released, group access) for runtimes
    that do not, and for components the LMS returns with an access error to explain.
    """
    try:
        if getattr(block, "has_access_error", False) is True:
            return False
        if viewer.staff:
            # Course staff see staff-only, unreleased and every group's content in the LMS too.
            return True
        if getattr(block, "visible_to_staff_only", False) is True:
            return False
        start = getattr(block, "start", None)
        if isinstance(start, datetime):
            now = _as_utc(viewer.now or datetime.now(UTC))
            if _as_utc(start) > now:
                return False
        return _group_access_allows(block, viewer)
    except Exception as exc:  # noqa: BLE001
        _left_out("a component", block, exc)
        return False


def _group_access_allows(block: Any, viewer: Viewer) -> bool:
    group_access = getattr(block, "group_access", None)
    if not group_access:
        return True
    if not isinstance(group_access, Mapping):
        return False
    restricting = {partition: groups for partition, groups in group_access.items() if groups}
    if not restricting:
        return True
    if viewer.in_groups is None:
        return False
    return viewer.in_groups(restricting) is True


# ------------------------------------------------------------- HTML to text

# Elements whose text a reader never sees.
_HTML_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "title", "object", "iframe"})
# Elements that start a paragraph of their own.
# fmt: off
_HTML_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "main", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
    }
)
# fmt: on
# Elements that start a line of their own.
_HTML_LINES = frozenset({"br", "li", "tr", "caption", "option"})
_HTML_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _TextWriter:
    """Collects text with paragraph and line breaks, collapsing whitespace as a browser does."""

    def __init__(self):
        self._chunks: list[str] = []
        self._pending = ""  # the strongest break waiting for the next text: "", "\n" or "\n\n"
        self.preformatted = 0

    def brk(self, kind: str) -> None:
        if len(kind) > len(self._pending):
            self._pending = kind

    def text(self, data: str) -> None:
        if not self.preformatted:
            data = _SPACES.sub(" ", data.replace("\n", " "))
            if not data.strip():
                # Whitespace between words still separates them; between blocks it is nothing.
                if self._chunks and not self._pending and not self._chunks[-1].endswith(" "):
                    self._chunks.append(" ")
                return
        if self._chunks and self._pending:
            self._chunks.append(self._pending)
        self._pending = ""
        if not self.preformatted and (not self._chunks or self._chunks[-1].endswith(("\n", " "))):
            data = data.lstrip()
        self._chunks.append(data)

    def result(self) -> str:
        lines = [line.rstrip() for line in "".join(self._chunks).split("\n")]
        text = "\n".join(lines)
        return _BLANK_LINES.sub("\n\n", text).strip()


class _HtmlText(HTMLParser):
    """Readable text of an HTML fragment: scripts and styles dropped, paragraphs kept, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = _TextWriter()
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ARG002 - attributes are never text
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.append(tag)
            return
        if tag in _HTML_SKIPPED:
            self._skipping.append(tag)
            return
        self._break(tag)
        if tag == "pre":
            self.out.preformatted += 1
        elif tag == "li":
            self.out.text("- ")

    def handle_startendtag(self, tag, attrs):  # noqa: ARG002
        if not self._skipping:
            self._break(tag)

    def handle_endtag(self, tag):
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag == "pre" and self.out.preformatted:
            self.out.preformatted -= 1
        if tag in ("td", "th"):
            self.out.text(" ")
        self._break(tag)

    def handle_data(self, data):
        if not self._skipping:
            self.out.text(data)

    def _break(self, tag: str) -> None:
        if tag in _HTML_BLOCKS:
            self.out.brk("\n\n")
        elif tag in _HTML_LINES:
            self.out.brk("\n")


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (an HTML component's ``data``)."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return clean_text(parser.out.result())


# ------------------------------------------------------- CAPA question text

# Elements of a CAPA problem that hold what a learner must not be given: answers, solutions,
# hints, feedback on answers, grader parameters and code: by part of the tag name (every kind of
# hint, answer and feedback element), and by exact name.
_CAPA_SKIPPED_PARTS = ("answer", "solution", "hint", "feedback", "grader", "explanation")
_CAPA_SKIPPED = frozenset(
    {"script", "style", "responseparam", "codeparam", "head", "template", "object", "iframe", "noscript"}
)
_CAPA_CHOICES = frozenset({"choice", "option"})
_CAPA_CHOICE_GROUPS = frozenset({"choicegroup", "checkboxgroup", "radiotextgroup", "checkboxtextgroup", "optioninput"})
_CAPA_BLOCKS = _HTML_BLOCKS | _CAPA_CHOICE_GROUPS | frozenset({"problem", "label", "description", "text"})


def _capa_skipped(tag: str) -> bool:
    return tag in _CAPA_SKIPPED or any(part in tag for part in _CAPA_SKIPPED_PARTS)


def _truthy_attr(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "false", "0", "no")


class _CapaQuestion(HTMLParser):
    """The question of a CAPA problem: its text, labels and choices; never answers, marks, hints or code.

    Only element text is read, never attributes, so ``correct="true"``, ``answer="…"`` and the like
    cannot leak. Choices are listed without marks, in the authored order, or sorted when the
    problem shuffles them (its authored order could point at the answer).
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = _TextWriter()
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self._groups: list[dict[str, Any]] = []  # choice groups being read: their choices and order
        self._choice: list[str] | None = None  # the text of the choice being read

    @property
    def _skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag, attrs):
        skipped = self._skipping or _capa_skipped(tag)
        if tag not in _HTML_VOID:
            self._stack.append((tag, skipped))
        if skipped:
            return
        attributes = dict(attrs)
        if tag in _CAPA_CHOICE_GROUPS:
            self._groups.append(
                {
                    "tag": tag,
                    "choices": [],
                    "sorted": _truthy_attr(attributes.get("shuffle")) or _truthy_attr(attributes.get("answer-pool")),
                }
            )
            if tag == "optioninput":
                # Old-style drop-downs list their options in an attribute: the options, not the answer.
                for match in _QUOTED.finditer(attributes.get("options") or ""):
                    option = (match.group(1) if match.group(1) is not None else match.group(2)) or ""
                    if option.strip():
                        self._groups[-1]["choices"].append(option.strip())
        elif tag in _CAPA_CHOICES and self._groups and self._choice is None:
            self._choice = []
            return
        self._block_break(tag)

    def handle_startendtag(self, tag, attrs):
        if tag in _HTML_VOID:
            self.handle_starttag(tag, attrs)
            return
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not any(open_tag == tag for open_tag, _ in self._stack):
            return  # a stray end tag: ignored
        while self._stack:
            open_tag, skipped = self._stack.pop()
            if not skipped:
                self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag: str) -> None:
        if tag in _CAPA_CHOICES and self._choice is not None and self._groups:
            text = " ".join(" ".join(self._choice).split())
            if text:
                self._groups[-1]["choices"].append(text)
            self._choice = None
            return
        if tag in _CAPA_CHOICE_GROUPS and self._groups and self._groups[-1]["tag"] == tag:
            group = self._groups.pop()
            choices = sorted(group["choices"], key=str.casefold) if group["sorted"] else group["choices"]
            self.out.brk("\n\n")
            for choice in choices:
                self.out.brk("\n")
                self.out.text(f"- {choice}")
        self._block_break(tag)

    def handle_data(self, data):
        if self._skipping:
            return
        if self._choice is not None:
            self._choice.append(data)
        else:
            self.out.text(data)

    def _block_break(self, tag: str) -> None:
        if tag in _CAPA_BLOCKS or tag.endswith("response"):
            self.out.brk("\n\n")
        elif tag in _HTML_LINES:
            self.out.brk("\n")


def capa_question_text(xml: str) -> str:
    """The question text of a CAPA problem (a ProblemBlock's ``data``)."""
    parser = _CapaQuestion()
    parser.feed(xml)
    parser.close()
    return clean_text(parser.out.result())


# ----------------------------------------------------------- video transcript


def _language_candidates(language: str) -> list[str]:
    language = (language or "").strip()
    candidates = [language, language.lower(), language.replace("_", "-").lower()]
    base = re.split(r"[-_]", language, maxsplit=1)[0].lower()
    candidates += [base, "en"]
    seen: list[str] = []
    for candidate in candidates:
        if candidate and candidate not in seen:
            seen.append(candidate)
    return seen


def _transcripts_info(video: Any) -> dict[str, Any]:
    """``{"sub": …, "transcripts": {lang: file}}`` as edx-platform's ``get_transcripts_info()`` gives it."""
    method = getattr(video, "get_transcripts_info", None)
    if callable(method):
        info = method()
        if isinstance(info, Mapping):
            return {"sub": info.get("sub") or "", "transcripts": dict(info.get("transcripts") or {})}
    transcripts = getattr(video, "transcripts", None)
    return {
        "sub": getattr(video, "sub", "") or "",
        "transcripts": dict(transcripts) if isinstance(transcripts, Mapping) else {},
    }


def _fetch_transcript(video: Any, info: dict[str, Any], language: str) -> str:
    """The transcript in ``language`` as plain text, through the video block's own transcript API."""
    method = getattr(video, "get_transcript", None)
    if callable(method):
        content = method(info, transcript_format="txt", lang=language)
    else:
        # Newer edx-platform: the transcript API is a function of the video block's module.
        from xmodule.video_block.transcripts_utils import get_transcript

        content = get_transcript(video, lang=language, output_format="txt")
    if isinstance(content, tuple):
        content = content[0]
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def video_transcript_text(video: Any, language: str) -> str:
    """The video's transcript in the learner's language, else in English, else nothing."""
    info = _transcripts_info(video)
    available = {lang for lang, name in info["transcripts"].items() if name}
    if info["sub"]:
        available.add("en")
    for candidate in _language_candidates(language):
        if candidate not in available:
            continue
        try:
            text = _fetch_transcript(video, info, candidate)
        except Exception as exc:  # noqa: BLE001 - listed but not stored: try the next language
            _left_out(f"the {candidate} transcript", video, exc)
            continue
        text = clean_text("\n".join(" ".join(line.split()) for line in text.splitlines())).strip()
        if text:
            return text
    return ""


# ------------------------------------------------------------- components


def component_text(block: Any, viewer: Viewer) -> str:
    """The readable text of one component of the unit ("" for anything else)."""
    kind = block_type(block)
    try:
        if kind == "html":
            data = getattr(block, "data", None)
            return html_to_text(data) if isinstance(data, str) else ""
        if kind == "html_demo":
            content = getattr(block, "content", None)
            return html_to_text(content) if isinstance(content, str) else ""
        if kind == "problem":
            data = getattr(block, "data", None)
            # Only CAPA problems are read; their markup says which parts are the question.
            if isinstance(data, str) and "<problem" in data:
                return capa_question_text(data)
            return ""
        if kind == "video":
            return video_transcript_text(block, viewer.language)
    except Exception as exc:  # noqa: BLE001
        _left_out(f"the {kind} text", block, exc)
    return ""


def component_title(block: Any) -> str:
    """What a component is called: its display name, else what kind of component it is ("Text", "Problem"…)."""
    return display_name(block) or _TYPE_LABELS.get(block_type(block), "Component")


def _is_chat_block(block: Any) -> bool:
    if block_type(block) in CHAT_BLOCK_TYPES:
        return True
    return getattr(type(block), "block_settings_key", None) == "IbalXBlock"


def unit_parts(unit: Any, chat_usage_id: str, viewer: Viewer) -> tuple[list[Part], int]:
    """The parts of the unit's other components this viewer sees, and the chat block's position in the unit."""
    children = children_of(unit)
    chat_position = len(children)
    parts: list[Part] = []
    for position, child in enumerate(children):
        if usage_id(child) == chat_usage_id:
            chat_position = position
            continue
        if _is_chat_block(child) or not is_visible(child, viewer):
            continue
        text = component_text(child, viewer)
        if not text:
            continue
        header = component_title(child)
        parts.append(Part(position=position, header=header, text=f"{header}\n{text}"))
    return parts, chat_position


def fit_parts(parts: Iterable[Part], chat_position: int, max_chars: int) -> tuple[str, bool]:
    """The unit text within ``max_chars``: the parts nearest the chat block first, then in unit order.

    The part that does not fit whole is cut at a word boundary (when its display name line and
    some of its text still fit) and ends the selection; ``truncated`` says something was cut or left out.
    """
    nearest_first = sorted(parts, key=lambda part: (abs(part.position - chat_position), part.position))
    kept: dict[int, str] = {}
    used = 0
    truncated = False
    for part in nearest_first:
        separator = len(PART_SEPARATOR) if kept else 0
        room = max_chars - used - separator
        if len(part.text) <= room:
            kept[part.position] = part.text
            used += separator + len(part.text)
            continue
        truncated = True
        cut = cut_at_word(part.text, room)
        if len(cut) > len(part.header) + 1:
            kept[part.position] = cut
        break
    return PART_SEPARATOR.join(kept[position] for position in sorted(kept)), truncated


def is_exam_subsection(subsection: Any) -> bool:
    """Whether the subsection is timed or a (proctored, practice, onboarding) exam in edx-platform's terms."""
    return subsection is not None and any(_true(subsection, flag) for flag in _EXAM_FLAGS)


def gather(chat_block: Any, viewer: Viewer, max_chars: int) -> CourseContext:
    """Everything the chat block's place in the course tells the assistant (empty outside a unit)."""
    unit = parent_of(chat_block)
    if unit is None:
        return CourseContext()
    subsection = parent_of(unit)
    section = parent_of(subsection)

    course_title = ""
    ancestor, depth = unit, 0
    while ancestor is not None and depth < _MAX_ANCESTORS:
        if block_type(ancestor) == "course":
            course_title = display_name(ancestor)
            break
        ancestor, depth = parent_of(ancestor), depth + 1

    parts, chat_position = unit_parts(unit, usage_id(chat_block), viewer)
    text, truncated = fit_parts(parts, chat_position, max_chars)
    return CourseContext(
        course_title=course_title,
        unit=UnitContent(
            section=display_name(section),
            subsection=display_name(subsection),
            title=display_name(unit),
            text=text,
            truncated=truncated,
        ),
        exam=is_exam_subsection(subsection),
    )
