"""IbalXBlock: puts the IBAL chat (course assistant or live course room) into a course unit.

The block itself is a thin shell. Its student view renders a mount point and a few
lines of JavaScript that import the chat widget (Rust compiled to WebAssembly) from
the IBAL gateway and mount it there. Where the gateway lives is operator
configuration (``XBLOCK_SETTINGS["IbalXBlock"]``), never course content.

Its ``chat_ticket`` handler, called by the widget behind the LMS session, signs a
short-lived ticket (ticket.py) that proves to the gateway who the user is, which
course and block the chat is in, and the user's role there.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from web_fragments.fragment import Fragment
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import Scope, String
from xblock.utils.resources import ResourceLoader
from xblock.utils.studio_editable import FutureFields, StudioEditableXBlockMixin
from xblock.validation import Validation, ValidationMessage

from . import __version__
from .config import ConfigError, GatewayConfig, TicketConfig, parse_settings, parse_ticket_settings
from .ticket import ChatPlace, TicketUser, mint_ticket

log = logging.getLogger(__name__)
loader = ResourceLoader(__name__)

#: Name of the JavaScript initialiser (static/js/src/ibal_xblock.js).
JS_INIT_FN = "IbalXBlock"

#: Name of the JSON handler that signs chat tickets (the widget calls it through ``runtime.handlerUrl``).
TICKET_HANDLER = "chat_ticket"

#: Keys of the JSON object passed to ``initialize_js`` and, from there, to the widget's ``mount()``.
#: The assistant instructions are not among them: they reach the gateway inside the signed ticket.
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
)

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
}

_LANG_RE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def _(text: str) -> str:
    """Mark a string for translation; it is translated when used, with ``self.ugettext``."""
    return text


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

    editable_fields = ("display_name", "welcome_message", "assistant_instructions")

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

    def mount_settings(self, gateway: GatewayConfig, ticket: TicketConfig) -> dict[str, str]:
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
        }

    def _staff_config_message(self, error: ConfigError) -> str:
        if error.key is not None and (error.key.startswith("TICKET_") or error.key == "SIGN_IN"):
            hint = self._t(
                'Set it in the LMS and Studio settings (the Tutor plugin "llm" sets the chat ticket keys for you).'
            )
        else:
            hint = self._t(
                "Set it in the LMS and Studio settings, for example "
                'XBLOCK_SETTINGS["IbalXBlock"] = {"GATEWAY_URL": "https://chat.example.com"}.'
            )
        return self._t("The IBAL chat is not configured: {setting} {problem}.").format(
            setting=error.setting, problem=self._t(error.problem)
        ) + " " + hint

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
        place = ChatPlace(
            course_id=course_id,
            usage_id=usage_id,
            title=self.display_name or "",
            instructions=self.assistant_instructions or "",
        )
        try:
            token = mint_ticket(ticket, gateway.origin, user, place)
        except Exception as exc:  # noqa: BLE001 - never a traceback (it could quote the key) in the log
            log.warning("IbalXBlock %s cannot sign a chat ticket: %s", usage_id, type(exc).__name__)
            raise JsonHandlerError(503, self._t(NOT_AVAILABLE)) from None
        return {"ticket": token, "expires_in": ticket.ttl}

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
                },
            )
        )
        frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
        frag.add_javascript(loader.load_unicode("static/js/src/ibal_xblock.js"))
        frag.initialize_js(JS_INIT_FN, settings)
        return frag

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
                    "config_error": self._staff_config_message(error) if error is not None else "",
                    "gateway_label": self._t("Gateway"),
                    "gateway_url": gateway.gateway_url if gateway is not None else "",
                },
            )
        )
        frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
        return frag

    # studio_view comes from StudioEditableXBlockMixin (a form for ``editable_fields``).

    # ------------------------------------------------------------ studio editing

    def clean_studio_edits(self, data):
        """Trim the single-line fields before validation."""
        for name in ("display_name", "welcome_message"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip()

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
            if not isinstance(value, str):
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
        ]
