"""IbalXBlock: puts the IBAL chat (course assistant or live course room) into a course unit.

The block itself is a thin shell. Its student view renders a mount point and a few
lines of JavaScript that import the chat widget (Rust compiled to WebAssembly) from
the IBAL gateway and mount it there. Where the gateway lives is operator
configuration (``XBLOCK_SETTINGS["IbalXBlock"]``), never course content.

Its ``chat_ticket`` handler, called by the widget behind the LMS session, signs a
short-lived ticket (ticket.py) that proves to the gateway who the user is, which
course and block the chat is in, and the user's role there; it also carries what the
assistant may know of the course (the unit's content as this learner sees it, from
unit_content.py) and the course team's controls (mode, starters, tutoring style,
disclosure, exam mode, the assistant in the live room). None of that is taken from the browser.

Its ``publish_event`` handler publishes the chat's analytics events (events.py) through
the runtime: what happened and a few numbers, never the text of a message.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from web_fragments.fragment import Fragment
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import Boolean, Scope, String
from xblock.utils.resources import ResourceLoader
from xblock.utils.studio_editable import FutureFields, StudioEditableXBlockMixin
from xblock.validation import Validation, ValidationMessage

from . import __version__
from .config import (
    MAX_DISCLOSURE_CHARS,
    ConfigError,
    GatewayConfig,
    TicketConfig,
    parse_settings,
    parse_ticket_settings,
)
from .events import EventError, event_fields, event_type_of
from .ticket import (
    DEFAULT_MODE,
    DEFAULT_TUTOR_STYLE,
    MAX_GROUP_PARTITIONS,
    MAX_STARTER_CHARS,
    MAX_STARTERS,
    MAX_STYLE_PROMPT,
    MODES,
    TUTOR_STYLES,
    ChatPlace,
    TicketUser,
    mint_ticket,
)
from .unit_content import CourseContext, UnitContent, Viewer, gather, is_exam_subsection, parent_of

log = logging.getLogger(__name__)
loader = ResourceLoader(__name__)

#: Name of the JavaScript initialiser (static/js/src/ibal_xblock.js).
JS_INIT_FN = "IbalXBlock"

#: Name of the JSON handler that signs chat tickets (the widget calls it through ``runtime.handlerUrl``).
TICKET_HANDLER = "chat_ticket"

#: Name of the JSON handler that publishes the chat's analytics events (events.py) through the runtime.
EVENT_HANDLER = "publish_event"

#: Keys of the JSON object passed to ``initialize_js`` and, from there, to the widget's ``mount()``.
#: The assistant instructions, the style prompt and the unit's content are not among them: they reach
#: the gateway inside the signed ticket only.
MOUNT_SETTINGS_KEYS = (
    "gateway_url",
    "ws_url",
    "widget_url",
    "course_id",
    "usage_id",
    "display_name",
    "welcome_message",
    "lang",
    "sign_in",
    "ticket_handler",
    "event_handler",
    "auth_relay_url",
    "mode",
    "starters",
)

#: The sign-in relay page (public/relay.html), served by the runtime from the package's public/ folder.
AUTH_RELAY_RESOURCE = "public/relay.html"

# Open edX user service optional attributes (edx-platform xblock_django/constants.py).
ATTR_KEY_IS_AUTHENTICATED = "edx-platform.is_authenticated"
ATTR_KEY_USER_ID = "edx-platform.user_id"
ATTR_KEY_USERNAME = "edx-platform.username"
ATTR_KEY_ANONYMOUS_USER_ID = "edx-platform.anonymous_user_id"
ATTR_KEY_USER_ROLE = "edx-platform.user_role"
ATTR_KEY_USER_IS_STAFF = "edx-platform.user_is_staff"
ATTR_KEY_USER_IS_GLOBAL_STAFF = "edx-platform.user_is_global_staff"
ATTR_KEY_USER_PREFERENCES = "edx-platform.user_preferences"
# What the xblock-sdk workbench's user service gives instead: its user id (``?student=``).
ATTR_KEY_WORKBENCH_USER_ID = "xblock-workbench.user_id"

NOT_AVAILABLE = "The chat is not available right now."

FIELD_MAX_LENGTHS = {
    "display_name": 255,
    "welcome_message": 1000,
    "assistant_instructions": 8000,
    "style_prompt": MAX_STYLE_PROMPT,
    "disclosure": MAX_DISCLOSURE_CHARS,
    # The starters' own limits are per line (see validate_field_data); this only bounds the raw text.
    "starters": 2000,
}

#: Editable fields that are true or false (the Studio form sends them as JSON booleans); the others are text.
BOOLEAN_FIELDS = ("room_assistant",)

#: The standard prompt of each tutoring style: the style prompt field's text until the course team edits it.
STYLE_PROMPTS = {
    "guide": (
        "Guide the learner to the answer instead of giving it. Do not give final answers or complete "
        "solutions to exercises, problems or assignments. Ask one question at a time that helps the learner "
        "take the next step, give hints that build on what they already said, and point them to the part of "
        "the course material that helps. When they get there, confirm it and say briefly why it is right."
    ),
    "direct": (
        "Answer the learner's question directly: give the answer first, clearly and concisely, then explain "
        "the reasoning in a few sentences. Base the answer on the course material and say where in the "
        "course it is covered. If the question is outside the course, say so."
    ),
}

_LANG_RE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def _(text: str) -> str:
    """Mark a string for translation; it is translated when used, with ``self.ugettext``."""
    return text


#: The course staff's button to the gateway's course dashboard (docs/instructor-insights.md), its note for
#: screen readers, and the message shown next to it when it cannot be opened.
INSIGHTS_LABEL = _("Course chat insights")
INSIGHTS_NEW_TAB = _("(opens in a new tab)")
INSIGHTS_ERROR = _("The course chat insights could not be opened. Please try again.")

MODE_LABELS = {
    "assistant": _("Course assistant"),
    "room": _("Live course room"),
    "both": _("Both, in tabs"),
}
TUTOR_STYLE_LABELS = {
    "guide": _("Guide, don't give the answer"),
    "direct": _("Answer directly"),
}


def _mode_choices(block: IbalXBlock) -> list[dict[str, str]]:
    """The Studio drop-down of the chat mode, in the author's language."""
    return [{"display_name": block._t(MODE_LABELS[mode]), "value": mode} for mode in MODES]


def _tutor_style_choices(block: IbalXBlock) -> list[dict[str, str]]:
    """The Studio drop-down of the tutoring style, in the author's language."""
    return [{"display_name": block._t(TUTOR_STYLE_LABELS[style]), "value": style} for style in ("guide", "direct")]


def starter_lines(text: Any) -> list[str]:
    """The non-blank lines of a starters field, each trimmed."""
    if not isinstance(text, str):
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def lms_root_url() -> str | None:
    """Django's ``settings.LMS_ROOT_URL`` (the default ticket issuer), or None outside a configured LMS."""
    try:
        # Imported here: the block also runs where Django is absent.
        from django.conf import settings

        if not settings.configured:
            return None
        value = getattr(settings, "LMS_ROOT_URL", None)
    except Exception:  # noqa: BLE001 - no Django, or settings that cannot be read
        return None
    return value if isinstance(value, str) and value.strip() else None


def _first_text(*values: Any) -> str:
    """The first value that is a non-empty string or a number, as a string; "" if none is."""
    for value in values:
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _numeric_id(value: Any) -> int | None:
    """The LMS's numeric user id, when the runtime gives one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@XBlock.needs("settings")
@XBlock.needs("i18n")
@XBlock.wants("user")
@XBlock.wants("partitions")
class IbalXBlock(StudioEditableXBlockMixin, XBlock):
    """An IBAL chat in a course unit."""

    block_settings_key = "IbalXBlock"
    has_author_view = True

    display_name = String(
        display_name=_("Display name"),
        help=_("The name of this component, shown in the course navigation."),
        default="IBAL Chat",
        scope=Scope.settings,
    )
    welcome_message = String(
        display_name=_("Welcome message"),
        help=_("Shown to learners before they start the chat."),
        default="Click Start Chat to begin",
        scope=Scope.settings,
    )
    assistant_instructions = String(
        display_name=_("Assistant instructions"),
        help=_(
            "Optional instructions for the course assistant in this unit (for example its role or the topic "
            "to focus on). They reach the assistant inside a chat ticket that the LMS signs; the learner's "
            "browser carries that ticket and can read it, so do not put secrets here."
        ),
        default="",
        scope=Scope.settings,
        multiline_editor=True,
    )
    mode = String(
        display_name=_("Chat mode"),
        help=_(
            "What learners get here: the course assistant (AI), the live course room (learners and course staff "
            "chatting together), or both, in tabs."
        ),
        default=DEFAULT_MODE,
        values=[{"display_name": MODE_LABELS[mode], "value": mode} for mode in MODES],
        values_provider=_mode_choices,
        scope=Scope.settings,
    )
    room_assistant = Boolean(
        display_name=_("Assistant in the live room"),
        help=_(
            "Whether learners can call the course assistant in the live course room by mentioning @assistant in "
            "a message, where the platform's operator has enabled the assistant in rooms. Its answers are shown "
            "to everyone in the room. Only used when the chat mode includes the live course room."
        ),
        default=True,
        scope=Scope.settings,
    )
    starters = String(
        display_name=_("Conversation starters"),
        help=_(
            "Up to four questions learners can pick to start a conversation with the assistant, one per line "
            "(at most 200 characters each; blank lines are ignored)."
        ),
        default="",
        scope=Scope.settings,
        multiline_editor=True,
    )
    tutor_style = String(
        display_name=_("Tutoring style"),
        help=_("Whether the assistant answers directly, or guides learners towards the answer without giving it."),
        default=DEFAULT_TUTOR_STYLE,
        values=[{"display_name": TUTOR_STYLE_LABELS[style], "value": style} for style in ("guide", "direct")],
        values_provider=_tutor_style_choices,
        scope=Scope.settings,
    )
    style_prompt = String(
        display_name=_("Style prompt"),
        help=_(
            "The instruction the assistant gets for the tutoring style (at most 2000 characters). While it is "
            "the standard text of a style, the assistant gets the standard text of the style chosen above; "
            "edit it to give your own. It travels in the chat ticket, which learners' browsers can read."
        ),
        default=STYLE_PROMPTS[DEFAULT_TUTOR_STYLE],
        scope=Scope.settings,
        multiline_editor=True,
    )
    disclosure = String(
        display_name=_("AI disclosure"),
        help=_(
            "The notice learners see about AI-generated answers (at most 1000 characters). Leave it blank to "
            "use the platform's standard notice."
        ),
        default="",
        scope=Scope.settings,
        multiline_editor=True,
    )

    editable_fields = (
        "display_name",
        "welcome_message",
        "mode",
        "room_assistant",
        "starters",
        "tutor_style",
        "style_prompt",
        "assistant_instructions",
        "disclosure",
    )

    # ------------------------------------------------------------------ helpers

    def _t(self, text: str) -> str:
        """Translate ``text`` with the runtime's i18n service (falls back to the text itself)."""
        try:
            return self.ugettext(text)
        except Exception:  # noqa: BLE001 - a broken i18n service must not break the page
            return text

    def _user(self):
        """The current XBlockUser from the user service, or None."""
        try:
            service = self.runtime.service(self, "user")
            return service.get_current_user() if service is not None else None
        except Exception:  # noqa: BLE001
            return None

    def _user_opt_attrs(self) -> dict:
        user = self._user()
        attrs = getattr(user, "opt_attrs", None)
        return attrs if isinstance(attrs, dict) else {}

    def is_staff(self) -> bool:
        """Whether the current user is course staff (or global staff).

        edx-platform exposes this through the user service (``opt_attrs``); older
        runtimes and test runtimes set ``runtime.user_is_staff``.
        """
        attrs = self._user_opt_attrs()
        if attrs.get(ATTR_KEY_USER_IS_STAFF) is True or attrs.get(ATTR_KEY_USER_IS_GLOBAL_STAFF) is True:
            return True
        return getattr(self.runtime, "user_is_staff", False) is True

    def user_language(self) -> str:
        """The user's language (e.g. "fr", "pt-br"), or "en" when the runtime does not say."""
        candidates = []
        prefs = self._user_opt_attrs().get(ATTR_KEY_USER_PREFERENCES)
        if isinstance(prefs, dict):
            candidates.append(prefs.get("pref-lang"))
        try:
            i18n = self.runtime.service(self, "i18n")
            get_language = getattr(i18n, "get_language", None)
            if callable(get_language):
                candidates.append(get_language())
        except Exception:  # noqa: BLE001
            pass
        for lang in candidates:
            if isinstance(lang, str) and _LANG_RE.match(lang.strip()):
                return lang.strip()
        return "en"

    def chat_context(self) -> tuple[str, str]:
        """``(course_id, usage_id)`` identifying this chat.

        In Open edX the usage id is an opaque key whose ``context_key`` is the
        course; in the workbench usage ids are plain strings and there is no course.
        """
        usage_key = self.scope_ids.usage_id
        course_key = getattr(usage_key, "context_key", None)
        if course_key is None:
            course_key = getattr(self.runtime, "course_id", None)
        return ("" if course_key is None else str(course_key)), str(usage_key)

    def _settings_bucket(self) -> Any:
        service = self.runtime.service(self, "settings")
        return service.get_settings_bucket(self) if service is not None else None

    def gateway_config(self) -> GatewayConfig:
        """Read and validate the gateway keys of ``XBLOCK_SETTINGS["IbalXBlock"]``; raises ConfigError."""
        return parse_settings(self._settings_bucket(), __version__)

    def ticket_config(self) -> TicketConfig:
        """Read and validate the chat ticket keys of ``XBLOCK_SETTINGS["IbalXBlock"]``; raises ConfigError."""
        return parse_ticket_settings(self._settings_bucket(), lms_root_url())

    def _config_or_error(self) -> tuple[GatewayConfig | None, TicketConfig | None, ConfigError | None]:
        """Both configurations, or the first error (the gateway's is kept when only the ticket's is bad)."""
        try:
            gateway = self.gateway_config()
        except ConfigError as error:
            return None, None, error
        try:
            return gateway, self.ticket_config(), None
        except ConfigError as error:
            return gateway, None, error

    # ------------------------------------------------------ course team controls

    def chat_mode(self) -> str:
        """The chat mode; an unknown value (e.g. from imported OLX, which Studio flags) counts as the default."""
        mode = (self.mode or "").strip() if isinstance(self.mode, str) else ""
        return mode if mode in MODES else DEFAULT_MODE

    def starter_list(self) -> list[str]:
        """The conversation starters: non-blank lines, at most four, each cut to 200 characters."""
        return [line[:MAX_STARTER_CHARS] for line in starter_lines(self.starters)[:MAX_STARTERS]]

    def chat_tutor_style(self) -> str:
        """The tutoring style; an unknown value counts as the default, as for the mode."""
        style = (self.tutor_style or "").strip() if isinstance(self.tutor_style, str) else ""
        return style if style in TUTOR_STYLES else DEFAULT_TUTOR_STYLE

    def effective_style_prompt(self) -> str:
        """The style prompt the assistant gets: the team's own text, or the standard text of the chosen style.

        The field starts with a standard text so the team can read it; as long as it is one of the
        standard texts (or blank), it follows the chosen style.
        """
        text = self.style_prompt.strip() if isinstance(self.style_prompt, str) else ""
        if not text or text in STYLE_PROMPTS.values():
            return STYLE_PROMPTS[self.chat_tutor_style()]
        return text[:MAX_STYLE_PROMPT]

    def room_assistant_on(self) -> bool:
        """Whether the assistant answers in this block's live room when called (the default: yes)."""
        return self.room_assistant is not False

    def disclosure_text(self, ticket: TicketConfig) -> str:
        """The block's own AI disclosure, else the operator's ``DISCLOSURE_TEXT``."""
        own = self.disclosure.strip() if isinstance(self.disclosure, str) else ""
        return own[:MAX_DISCLOSURE_CHARS] if own else ticket.disclosure_text

    # ----------------------------------------------------------- course context

    def _current_django_user(self):
        """The Django user behind the user service, or None where there is none (outside the LMS)."""
        service = self.runtime.service(self, "user")
        user = getattr(service, "_django_user", None)
        if user is not None:
            return user
        username = _first_text(self._user_opt_attrs().get(ATTR_KEY_USERNAME))
        return self._django_user(username) if username else None

    def _group_checker(self):
        """A check of a component's group access against the user's groups (cohorts, enrollment tracks…),
        through the runtime's partitions service; None where there is none, so restricted components are left
        out."""
        try:
            service = self.runtime.service(self, "partitions")
        except Exception:  # noqa: BLE001 - no such service in this runtime
            return None
        if service is None or not callable(getattr(service, "get_user_group_id_for_partition", None)):
            return None

        def in_groups(restricting) -> bool:
            user = self._current_django_user()
            if user is None:
                return False
            for partition_id, group_ids in restricting.items():
                group = service.get_user_group_id_for_partition(user, int(partition_id))
                if group is None or int(group) not in {int(group_id) for group_id in group_ids}:
                    return False
            return True

        return in_groups

    def user_groups(self) -> dict[int, int]:
        """The current user's group in each user partition of the course (cohorts, enrollment tracks, content
        experiments…): ``{partition id: group id}``, for the ticket's ``groups`` claim.

        The partitions are the partitions service's ``course_partitions`` (edx-platform's ``PartitionService``:
        the course's own and its dynamic ones, such as the enrollment track partition); inactive ones are
        skipped, as the LMS does not enforce them. The user's group in each comes from
        ``get_user_group_id_for_partition``, which assigns them one where the partition's scheme does (a
        content experiment), as the LMS's course outline does. Partitions where the user has no group are left
        out; at most ``MAX_GROUP_PARTITIONS`` partitions are asked. ``{}`` without a partitions service (the
        workbench), a Django user or a list of partitions, or when the service fails.
        """
        try:
            service = self.runtime.service(self, "partitions")
        except Exception:  # noqa: BLE001 - no such service in this runtime
            return {}
        group_of = getattr(service, "get_user_group_id_for_partition", None)
        if service is None or not callable(group_of):
            return {}
        try:
            partitions = getattr(service, "course_partitions", None)
            partitions = list(partitions) if isinstance(partitions, list | tuple) else []
            user = self._current_django_user() if partitions else None
        except Exception as exc:  # noqa: BLE001 - e.g. the course cannot be loaded: no groups
            log.debug(
                "IbalXBlock %s cannot list the course's partitions (%s)", self.scope_ids.usage_id, type(exc).__name__
            )
            return {}
        if user is None:
            return {}
        groups: dict[int, int] = {}
        asked: set[int] = set()
        for partition in partitions:
            if getattr(partition, "active", True) is False:
                continue
            partition_id = _numeric_id(getattr(partition, "id", None))
            if partition_id is None or partition_id < 0 or partition_id in asked:
                continue
            if len(asked) == MAX_GROUP_PARTITIONS:
                log.warning(
                    "IbalXBlock %s: the course has more than %d user partitions; the chat ticket names the first %d",
                    self.scope_ids.usage_id,
                    MAX_GROUP_PARTITIONS,
                    MAX_GROUP_PARTITIONS,
                )
                break
            asked.add(partition_id)
            try:
                group_id = _numeric_id(group_of(user, partition_id))
            except Exception as exc:  # noqa: BLE001 - that partition is left out
                log.debug(
                    "IbalXBlock %s cannot get the user's group in partition %d (%s)",
                    self.scope_ids.usage_id,
                    partition_id,
                    type(exc).__name__,
                )
                continue
            if group_id is not None and group_id >= 0:
                groups[partition_id] = group_id
        return groups

    def _exam_attempt_running(self, course_id: str) -> bool:
        """Whether the LMS's proctoring service says this learner has an exam attempt running in the course."""
        user_id = _numeric_id(self._user_opt_attrs().get(ATTR_KEY_USER_ID))
        if not course_id or user_id is None:
            return False
        try:
            from edx_proctoring.api import get_active_exams_for_user
        except Exception:  # noqa: BLE001 - not in the LMS, or no edx-proctoring there
            return False
        try:
            return bool(get_active_exams_for_user(user_id, course_id))
        except Exception as exc:  # noqa: BLE001 - unsure: not an exam
            log.debug(
                "IbalXBlock %s cannot ask edx-proctoring for exam attempts (%s)",
                self.scope_ids.usage_id,
                type(exc).__name__,
            )
            return False

    def course_context(self, max_chars: int) -> CourseContext:
        """The course title, the unit (titles and this learner's view of its content) and whether it is an exam.

        During an exam the unit's text is withheld: the assistant gets no exam questions to answer.
        """
        viewer = Viewer(staff=self.is_staff(), language=self.user_language(), in_groups=self._group_checker())
        try:
            context = gather(self, viewer, max_chars)
        except Exception as exc:  # noqa: BLE001 - the chat works without the unit's content
            log.debug("IbalXBlock %s cannot read its unit (%s)", self.scope_ids.usage_id, type(exc).__name__)
            context = CourseContext()
        exam = context.exam or self._exam_attempt_running(self.chat_context()[0])
        if not exam:
            return context
        unit = context.unit
        return CourseContext(
            course_title=context.course_title,
            unit=UnitContent(section=unit.section, subsection=unit.subsection, title=unit.title),
            exam=True,
        )

    def in_exam_subsection(self) -> bool:
        """Whether the block's subsection is a timed or proctored exam (for Studio's note)."""
        try:
            return is_exam_subsection(parent_of(parent_of(self)))
        except Exception:  # noqa: BLE001
            return False

    def mount_settings(self, gateway: GatewayConfig, ticket: TicketConfig) -> dict[str, Any]:
        """The JSON settings handed to the widget's ``mount(element, settings)``."""
        course_id, usage_id = self.chat_context()
        return {
            "gateway_url": gateway.gateway_url,
            "ws_url": gateway.ws_url,
            "widget_url": gateway.widget_url,
            "course_id": course_id,
            "usage_id": usage_id,
            "display_name": self.display_name or "",
            "welcome_message": self.welcome_message or "",
            "lang": self.user_language(),
            "sign_in": ticket.sign_in,
            "ticket_handler": TICKET_HANDLER,
            "event_handler": EVENT_HANDLER,
            "auth_relay_url": self.auth_relay_url(),
            # Shown before the first message; the gateway trusts neither (the ticket carries both too).
            "mode": self.chat_mode(),
            "starters": self.starter_list(),
        }

    def auth_relay_url(self) -> str:
        """The URL of the sign-in relay page, as the runtime serves it; "" when it cannot say.

        When the course page's opener policy cuts the sign-in popup off from it, the gateway sends
        the popup to this page, on the course page's own origin, which hands the result to the
        widget. The runtime decides the URL (usually an absolute path, e.g.
        ``/xblock/resource/ibalxblock/public/relay.html``); the widget resolves it against the
        page's location. Without it the popup sign-in still works wherever the opener survives.
        """
        try:
            url = self.runtime.local_resource_url(self, AUTH_RELAY_RESOURCE)
        except Exception as exc:  # noqa: BLE001 - a runtime without local resources: no relay
            log.warning(
                "IbalXBlock %s has no URL for its sign-in relay page (%s)", self.scope_ids.usage_id, type(exc).__name__
            )
            return ""
        return url if isinstance(url, str) else ""

    def _staff_config_message(self, error: ConfigError) -> str:
        if error.key is not None and (error.key.startswith("TICKET_") or error.key == "SIGN_IN"):
            hint = self._t(
                'Set it in the LMS and Studio settings (the Tutor plugin "llm" sets the chat ticket keys for you).'
            )
        elif error.key in ("UNIT_CONTENT_MAX_CHARS", "DISCLOSURE_TEXT"):
            hint = self._t("Correct it in the LMS and Studio settings, or remove it to use the default.")
        else:
            hint = self._t(
                "Set it in the LMS and Studio settings, for example "
                'XBLOCK_SETTINGS["IbalXBlock"] = {"GATEWAY_URL": "https://chat.example.com"}.'
            )
        return (
            self._t("The IBAL chat is not configured: {setting} {problem}.").format(
                setting=error.setting, problem=self._t(error.problem)
            )
            + " "
            + hint
        )

    # ------------------------------------------------------------ chat ticket

    def _ticket_user(self) -> TicketUser | None:
        """The signed-in user as the ticket names them, or None for an anonymous user."""
        user = self._user()
        if user is None:
            return None
        attrs = self._user_opt_attrs()
        if attrs.get(ATTR_KEY_IS_AUTHENTICATED) is False:
            return None
        username = _first_text(
            attrs.get(ATTR_KEY_USERNAME), getattr(user, "username", None), attrs.get(ATTR_KEY_WORKBENCH_USER_ID)
        )
        if not username:
            return None
        subject = self._lms_subject(username) or _first_text(
            attrs.get(ATTR_KEY_ANONYMOUS_USER_ID), attrs.get(ATTR_KEY_USER_ID)
        )
        if not subject:
            # Last resort (the workbench, test runtimes): the deprecated runtime user id.
            subject = _first_text(getattr(self.runtime, "user_id", None))
        if not subject:
            return None
        return TicketUser(
            subject=subject,
            username=username,
            user_id=_numeric_id(attrs.get(ATTR_KEY_USER_ID)),
            role=self._course_role(attrs),
            global_staff=attrs.get(ATTR_KEY_USER_IS_GLOBAL_STAFF) is True,
        )

    def _course_role(self, attrs: dict) -> str:
        """learner, staff or instructor, from the user service (or a test runtime's staff flag)."""
        role = attrs.get(ATTR_KEY_USER_ROLE)
        if role == "instructor":
            return "instructor"
        if role == "staff" or attrs.get(ATTR_KEY_USER_IS_STAFF) is True:
            return "staff"
        if getattr(self.runtime, "user_is_staff", False) is True:
            return "staff"
        return "learner"

    def _lms_subject(self, username: str) -> str | None:
        """The user's global anonymous id, the ``sub`` of the LMS's own JWTs; None outside the LMS.

        The user service only offers a course-specific anonymous id, so the global one is
        computed with edx-platform's own function, in process.
        """
        try:
            from common.djangoapps.student.models import anonymous_id_for_user
        except Exception:  # noqa: BLE001 - not in the LMS (ImportError), or its apps are not ready
            return None
        try:
            subject = anonymous_id_for_user(self._django_user(username), None)
        except Exception as exc:  # noqa: BLE001 - fall back to what the user service gives
            log.warning(
                "IbalXBlock %s cannot compute the LMS subject of the user (%s); using the user service's id",
                self.scope_ids.usage_id,
                type(exc).__name__,
            )
            return None
        return subject if isinstance(subject, str) and subject else None

    def _django_user(self, username: str):
        """The Django user behind the user service: its own, else looked up by username."""
        service = self.runtime.service(self, "user")
        # edx-platform's DjangoXBlockUserService keeps the request's user there.
        user = getattr(service, "_django_user", None)
        if user is not None and getattr(user, "username", None) == username:
            return user
        # Imported here: only the LMS gets this far, and Django is only needed there.
        from django.contrib.auth import get_user_model

        return get_user_model().objects.get(username=username)

    def _unavailable(self, error: ConfigError, what: str) -> str:
        """Log a configuration error (one line) and return the message for this user (staff see the setting)."""
        log.warning("IbalXBlock %s %s: %s", self.scope_ids.usage_id, what, error)
        return self._staff_config_message(error) if self.is_staff() else self._t(NOT_AVAILABLE)

    @XBlock.json_handler
    def chat_ticket(self, data, suffix=""):  # noqa: ARG002 - handler signature; the body is ignored
        """Sign a chat ticket for the current user in this block (POST ``{}``).

        Returns ``{"ticket": <compact JWS>, "expires_in": <seconds>}``; 403 for an anonymous
        user, 503 when the block is not configured to sign tickets.
        """
        user = self._ticket_user()
        if user is None:
            raise JsonHandlerError(403, self._t("Sign in to use the chat."))
        gateway, ticket, error = self._config_or_error()
        if error is not None:
            raise JsonHandlerError(503, self._unavailable(error, "cannot issue a chat ticket"))
        course_id, usage_id = self.chat_context()
        context = self.course_context(ticket.unit_content_max_chars)
        place = ChatPlace(
            course_id=course_id,
            usage_id=usage_id,
            title=self.display_name or "",
            instructions=self.assistant_instructions or "",
            course_title=context.course_title,
            unit=context.unit,
            mode=self.chat_mode(),
            starters=tuple(self.starter_list()),
            tutor_style=self.chat_tutor_style(),
            style_prompt=self.effective_style_prompt(),
            disclosure=self.disclosure_text(ticket),
            exam=context.exam,
            room_assistant=self.room_assistant_on(),
        )
        user = dataclasses.replace(user, groups=self.user_groups())
        try:
            token = mint_ticket(ticket, gateway.origin, user, place)
        except Exception as exc:  # noqa: BLE001 - never a traceback (it could quote the key) in the log
            log.warning("IbalXBlock %s cannot sign a chat ticket: %s", usage_id, type(exc).__name__)
            raise JsonHandlerError(503, self._t(NOT_AVAILABLE)) from None
        return {"ticket": token, "expires_in": ticket.ttl}

    @XBlock.json_handler
    def publish_event(self, data, suffix=""):  # noqa: ARG002 - handler signature
        """Publish one of the chat's analytics events through the runtime (POST ``{"event_type": …, …}``).

        The event holds ``course_id``, ``usage_id``, ``role`` and ``mode``, all from the block, plus the
        fields of its type that the request gives (events.py), validated; anything else in the request,
        text above all, is dropped. Returns ``{"result": "success"}``; 400 for an unknown event type or a
        bad field, 403 for an anonymous user.
        """
        user = self._ticket_user()
        if user is None:
            raise JsonHandlerError(403, self._t("Sign in to use the chat."))
        try:
            event_type = event_type_of(data)
            fields = event_fields(event_type, data)
        except EventError as error:
            raise JsonHandlerError(400, self._t(error.message).format(**error.params)) from None
        course_id, usage_id = self.chat_context()
        event = {"course_id": course_id, "usage_id": usage_id, "role": user.role, "mode": self.chat_mode(), **fields}
        try:
            self.runtime.publish(self, event_type, event)
        except Exception as exc:  # noqa: BLE001 - the tracker's failure is logged, not the event
            log.warning("IbalXBlock %s cannot publish %s (%s)", usage_id, event_type, type(exc).__name__)
            raise JsonHandlerError(503, self._t(NOT_AVAILABLE)) from None
        return {"result": "success"}

    def _render(self, template: str, context: dict[str, Any]) -> str:
        return loader.render_django_template(template, context, i18n_service=self.runtime.service(self, "i18n"))

    # -------------------------------------------------------------------- views

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        """The learner's view: a mount point the chat widget is loaded into."""
        frag = Fragment()
        gateway, ticket, error = self._config_or_error()
        if error is not None:
            staff = self.is_staff()
            message = self._unavailable(error, "cannot start the chat")
            frag.add_content(
                self._render(
                    "templates/html/ibal_xblock.html",
                    {"available": False, "staff": staff, "message": message, "display_name": self.display_name},
                )
            )
            frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
            return frag

        settings = self.mount_settings(gateway, ticket)
        frag.add_content(
            self._render(
                "templates/html/ibal_xblock.html",
                {
                    "available": True,
                    "usage_id": settings["usage_id"],
                    "display_name": self.display_name,
                    "loading_text": self._t("Loading the chat…"),
                    "load_error": self._t("The chat could not be loaded. Please reload the page or try again later."),
                    **self._insights_context(),
                },
            )
        )
        frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
        frag.add_javascript(loader.load_unicode("static/js/src/ibal_xblock.js"))
        frag.initialize_js(JS_INIT_FN, settings)
        return frag

    def _insights_context(self) -> dict[str, Any]:
        """The "Course chat insights" button's texts, for course staff only (learners get ``insights`` false).

        The block's JavaScript posts a fresh chat ticket to the gateway's ``/instructor/enter`` in a new tab
        (docs/instructor-insights.md); the gateway checks the ticket's role again.
        """
        if not self.is_staff():
            return {"insights": False}
        return {
            "insights": True,
            "insights_label": self._t(INSIGHTS_LABEL),
            "insights_new_tab": self._t(INSIGHTS_NEW_TAB),
            "insights_error": self._t(INSIGHTS_ERROR),
        }

    def author_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        """Studio preview: a note instead of a live chat (authors configure, learners chat)."""
        gateway, _ticket, error = self._config_or_error()
        frag = Fragment(
            self._render(
                "templates/html/ibal_xblock_author.html",
                {
                    "note": self._t("IBAL chat: learners see the chat here"),
                    "display_name": self.display_name,
                    "welcome_label": self._t("Welcome message"),
                    "welcome_message": self.welcome_message,
                    "instructions_note": (
                        self._t("Assistant instructions are set.") if self.assistant_instructions else ""
                    ),
                    "mode_label": self._t("Chat mode"),
                    "mode": self._t(MODE_LABELS[self.chat_mode()]),
                    "room_assistant_note": self._room_assistant_note(),
                    "starters_note": self._starters_note(),
                    "style_label": self._t("Tutoring style"),
                    "tutor_style": self._t(TUTOR_STYLE_LABELS[self.chat_tutor_style()]),
                    "style_prompt_note": (
                        self._t("custom style prompt")
                        if self.effective_style_prompt() not in STYLE_PROMPTS.values()
                        else self._t("standard style prompt")
                    ),
                    "exam_note": (
                        self._t(
                            "This subsection is a timed or proctored exam: the chat runs in exam mode here, "
                            "and the assistant gets none of the unit's content."
                        )
                        if self.in_exam_subsection()
                        else ""
                    ),
                    "config_error": self._staff_config_message(error) if error is not None else "",
                    "gateway_label": self._t("Gateway"),
                    "gateway_url": gateway.gateway_url if gateway is not None else "",
                },
            )
        )
        frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
        return frag

    def _room_assistant_note(self) -> str:
        """Whether the assistant answers in the live room, for a mode with a room; "" otherwise."""
        if self.chat_mode() not in ("room", "both"):
            return ""
        if self.room_assistant_on():
            return self._t(
                "In the live room, learners can call the assistant with @assistant (where the platform enables it)."
            )
        return self._t("The assistant does not answer in the live room.")

    def _starters_note(self) -> str:
        count = len(self.starter_list())
        if count == 0:
            return self._t("No conversation starters.")
        if count == 1:
            return self._t("1 conversation starter.")
        return self._t("{count} conversation starters.").format(count=count)

    # studio_view comes from StudioEditableXBlockMixin (a form for ``editable_fields``).

    # ------------------------------------------------------------ studio editing

    def clean_studio_edits(self, data):
        """Trim the fields before validation; keep the starters one per line; let a standard style prompt
        follow the chosen style, so the form shows the text the assistant gets."""
        for name in ("display_name", "welcome_message", "mode", "tutor_style", "style_prompt", "disclosure"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip()
        if isinstance(data.get("starters"), str):
            data["starters"] = "\n".join(starter_lines(data["starters"]))
        style = data.get("tutor_style", self.tutor_style)
        prompt = data.get("style_prompt", self.style_prompt)
        standard = isinstance(prompt, str) and (not prompt.strip() or prompt.strip() in STYLE_PROMPTS.values())
        if style in STYLE_PROMPTS and standard:
            data["style_prompt"] = STYLE_PROMPTS[style]

    def validate_field_data(self, validation, data):
        """Field rules, shared by the Studio form, ``studio_submit`` and ``validate()``."""
        for name, limit in FIELD_MAX_LENGTHS.items():
            value = getattr(data, name)
            if not isinstance(value, str):
                validation.add(
                    ValidationMessage(ValidationMessage.ERROR, self._t("{field} must be text.").format(field=name))
                )
            elif len(value) > limit:
                validation.add(
                    ValidationMessage(
                        ValidationMessage.ERROR,
                        self._t("{field} is too long ({length} characters, at most {limit}).").format(
                            field=name, length=len(value), limit=limit
                        ),
                    )
                )
        if isinstance(data.display_name, str) and not data.display_name.strip():
            validation.add(ValidationMessage(ValidationMessage.ERROR, self._t("display_name must not be empty.")))
        if isinstance(data.welcome_message, str) and not data.welcome_message.strip():
            validation.add(ValidationMessage(ValidationMessage.ERROR, self._t("welcome_message must not be empty.")))
        self._validate_choice(validation, "mode", data.mode, MODES)
        self._validate_choice(validation, "tutor_style", data.tutor_style, TUTOR_STYLES)
        for name in BOOLEAN_FIELDS:
            if not isinstance(getattr(data, name), bool):
                validation.add(
                    ValidationMessage(
                        ValidationMessage.ERROR, self._t("{field} must be true or false.").format(field=name)
                    )
                )
        lines = starter_lines(data.starters)
        if len(lines) > MAX_STARTERS:
            validation.add(
                ValidationMessage(
                    ValidationMessage.ERROR,
                    self._t("starters has {count} lines; at most {limit} conversation starters are allowed.").format(
                        count=len(lines), limit=MAX_STARTERS
                    ),
                )
            )
        for number, line in enumerate(lines, start=1):
            if len(line) > MAX_STARTER_CHARS:
                validation.add(
                    ValidationMessage(
                        ValidationMessage.ERROR,
                        self._t("starters line {number} is too long ({length} characters, at most {limit}).").format(
                            number=number, length=len(line), limit=MAX_STARTER_CHARS
                        ),
                    )
                )

    def _validate_choice(self, validation, name: str, value: Any, choices: tuple[str, ...]) -> None:
        if isinstance(value, str) and value.strip() not in choices:
            validation.add(
                ValidationMessage(
                    ValidationMessage.ERROR,
                    self._t("{field} must be one of {choices}.").format(field=name, choices=", ".join(choices)),
                )
            )

    def validate(self):
        """Studio validation: field rules plus a warning when the chat is not configured."""
        validation = super().validate()
        try:
            _gateway, _ticket, error = self._config_or_error()
        except Exception:  # noqa: BLE001 - e.g. no settings service in this runtime
            error = None
        if error is not None:
            validation.add(ValidationMessage(ValidationMessage.WARNING, self._staff_config_message(error)))
        return validation

    def _save_studio_values(self, data: Any) -> dict:
        """Validate and save edited fields.

        Accepts the StudioEditableXBlockMixin payload ``{"values": {...}, "defaults": [...]}``
        or a flat ``{"display_name": ..., "welcome_message": ..., "assistant_instructions": ...}``.
        Values are text, but those of ``BOOLEAN_FIELDS``, which are ``true`` or ``false``.
        Unknown fields (e.g. a gateway URL) are rejected: they are not course content.
        """
        if not isinstance(data, dict):
            raise JsonHandlerError(400, self._t("Expected a JSON object."))
        if "values" in data:
            values, defaults = data.get("values"), data.get("defaults", [])
        else:
            values, defaults = data, []
        if not isinstance(values, dict) or not isinstance(defaults, list):
            raise JsonHandlerError(400, self._t("Expected a JSON object."))
        unknown = sorted(str(name) for name in set(values) | set(defaults) if name not in self.editable_fields)
        if unknown:
            raise JsonHandlerError(
                400, self._t("Unknown or non-editable fields: {fields}.").format(fields=", ".join(unknown))
            )
        values = dict(values)
        for name, value in values.items():
            if name in BOOLEAN_FIELDS:
                if not isinstance(value, bool):
                    raise JsonHandlerError(400, self._t("{field} must be true or false.").format(field=name))
            elif not isinstance(value, str):
                raise JsonHandlerError(400, self._t("{field} must be text.").format(field=name))
        to_reset = [name for name in defaults if name not in values and self.fields[name].is_set_on(self)]

        self.clean_studio_edits(values)
        validation = Validation(self.scope_ids.usage_id)
        self.validate_field_data(validation, FutureFields(values, to_reset, self))
        if not validation:
            raise JsonHandlerError(400, validation.to_json())

        for name, value in values.items():
            setattr(self, name, value)
        for name in to_reset:
            self.fields[name].delete_from(self)
        return {"result": "success", "values": {name: getattr(self, name) for name in self.editable_fields}}

    @XBlock.json_handler
    def studio_submit(self, data, suffix=""):  # noqa: ARG002 - handler signature
        """Save edited fields (JSON). Responds 400 with the reasons when a value is invalid."""
        return self._save_studio_values(data)

    @XBlock.json_handler
    def submit_studio_edits(self, data, suffix=""):  # noqa: ARG002 - handler signature
        """The Studio form's save handler (StudioEditableXBlockMixin): same rules as ``studio_submit``."""
        return self._save_studio_values(data)

    # ---------------------------------------------------------------- workbench

    @staticmethod
    def workbench_scenarios():
        """Scenarios for the xblock-sdk workbench."""
        return [
            ("IBAL Chat", "<ibalxblock/>"),
            (
                "IBAL Chat with a custom welcome message",
                '<ibalxblock display_name="Ask the course assistant" '
                'welcome_message="Hello! Ask me anything about this unit."/>',
            ),
            (
                "Two IBAL Chats in one unit",
                """<vertical_demo>
                    <ibalxblock display_name="Course room"/>
                    <ibalxblock display_name="Course assistant" welcome_message="Ask the assistant"/>
                </vertical_demo>""",
            ),
            (
                "IBAL Chat with assistant instructions",
                '<ibalxblock display_name="Photosynthesis helper" '
                'welcome_message="Ask me about photosynthesis." '
                'assistant_instructions="Answer in two sentences at most.&#10;'
                'Never give the answers to the graded quiz."/>',
            ),
            (
                "IBAL Chat in a unit with an HTML component",
                """<vertical_demo>
                    <html_demo><h3>The light reactions</h3>
                        <p>Chlorophyll absorbs light and splits water, releasing oxygen.</p>
                        <p>The energy is stored in ATP and NADPH for the Calvin cycle.</p></html_demo>
                    <ibalxblock display_name="Photosynthesis assistant" mode="both"
                        starters="What do the light reactions produce?&#10;Why is oxygen released?"/>
                </vertical_demo>""",
            ),
        ]
