"""IbalXBlock: puts the IBAL chat (course assistant or live course room) into a course unit.

The block itself is a thin shell. Its student view renders a mount point and a few
lines of JavaScript that import the chat widget (Rust compiled to WebAssembly) from
the IBAL gateway and mount it there. Where the gateway lives is operator
configuration (``XBLOCK_SETTINGS["IbalXBlock"]``), never course content.
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
from .config import ConfigError, GatewayConfig, parse_settings

log = logging.getLogger(__name__)
loader = ResourceLoader(__name__)

#: Name of the JavaScript initialiser (static/js/src/ibal_xblock.js).
JS_INIT_FN = "IbalXBlock"

#: Keys of the JSON object passed to ``initialize_js`` and, from there, to the widget's ``mount()``.
MOUNT_SETTINGS_KEYS = (
    "gateway_url",
    "ws_url",
    "widget_url",
    "course_id",
    "usage_id",
    "display_name",
    "welcome_message",
    "assistant_instructions",
    "lang",
)

# Open edX user service optional attributes (edx-platform xblock_django/constants.py).
ATTR_KEY_USER_IS_STAFF = "edx-platform.user_is_staff"
ATTR_KEY_USER_IS_GLOBAL_STAFF = "edx-platform.user_is_global_staff"
ATTR_KEY_USER_PREFERENCES = "edx-platform.user_preferences"

FIELD_MAX_LENGTHS = {
    "display_name": 255,
    "welcome_message": 1000,
    "assistant_instructions": 8000,
}

_LANG_RE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def _(text: str) -> str:
    """Mark a string for translation; it is translated when used, with ``self.ugettext``."""
    return text


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
            "to focus on). They are sent to the learner's browser with the chat settings: do not put secrets here."
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

    def gateway_config(self) -> GatewayConfig:
        """Read and validate ``XBLOCK_SETTINGS["IbalXBlock"]``; raises ConfigError."""
        service = self.runtime.service(self, "settings")
        bucket = service.get_settings_bucket(self) if service is not None else None
        return parse_settings(bucket, __version__)

    def _config_or_error(self) -> tuple[GatewayConfig | None, ConfigError | None]:
        try:
            return self.gateway_config(), None
        except ConfigError as error:
            return None, error

    def mount_settings(self, config: GatewayConfig) -> dict[str, str]:
        """The JSON settings handed to the widget's ``mount(element, settings)``."""
        course_id, usage_id = self.chat_context()
        settings = {
            "gateway_url": config.gateway_url,
            "ws_url": config.ws_url,
            "widget_url": config.widget_url,
            "course_id": course_id,
            "usage_id": usage_id,
            "display_name": self.display_name or "",
            "welcome_message": self.welcome_message or "",
            "assistant_instructions": self.assistant_instructions or "",
            "lang": self.user_language(),
        }
        return settings

    def _staff_config_message(self, error: ConfigError) -> str:
        return self._t(
            "The IBAL chat is not configured: {setting} {problem}. Set it in the LMS and Studio settings, "
            'for example XBLOCK_SETTINGS["IbalXBlock"] = {{"GATEWAY_URL": "https://chat.example.com"}}.'
        ).format(setting=error.setting, problem=self._t(error.problem))

    def _render(self, template: str, context: dict[str, Any]) -> str:
        return loader.render_django_template(template, context, i18n_service=self.runtime.service(self, "i18n"))

    # -------------------------------------------------------------------- views

    def student_view(self, context=None):  # noqa: ARG002 - XBlock view signature
        """The learner's view: a mount point the chat widget is loaded into."""
        frag = Fragment()
        config, error = self._config_or_error()
        if error is not None:
            log.warning("IbalXBlock %s cannot start the chat: %s", self.scope_ids.usage_id, error)
            staff = self.is_staff()
            message = self._staff_config_message(error) if staff else self._t("The chat is not available right now.")
            frag.add_content(
                self._render(
                    "templates/html/ibal_xblock.html",
                    {"available": False, "staff": staff, "message": message, "display_name": self.display_name},
                )
            )
            frag.add_css(loader.load_unicode("static/css/ibal_xblock.css"))
            return frag

        settings = self.mount_settings(config)
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
        config, error = self._config_or_error()
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
                    "gateway_url": config.gateway_url if config is not None else "",
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
        """Studio validation: field rules plus a warning when the gateway is not configured."""
        validation = super().validate()
        try:
            _config, error = self._config_or_error()
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
        ]
