"""Stand-in for ``xmodule.modulestore.django`` (see ../../README.md): the modulestore's signals, and ``modulestore()``.

As in edx-platform: ``SignalHandler`` holds ``SwitchedSignal``s (Django signals that tests can switch off), a
modulestore sends them with ``signal_handler.send(name, course_key=…)`` (``send_robust``, the sender being the
modulestore's class: a failing receiver never fails a publish), and every signal is also a module-level name
(``COURSE_PUBLISHED`` is ``SignalHandler.course_published``), which the plugin framework imports receivers' signals
by. ``modulestore()`` builds, once, the class ``settings.MODULESTORE["default"]["ENGINE"]`` names with
``OPTIONS`` and a ``SignalHandler`` of that class (the workbench names ``tests.workbench_studio.WorkbenchModuleStore``).
"""

import logging

from django.conf import settings
from django.dispatch import Signal
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class SwitchedSignal(Signal):
    """A Django signal that can be turned off (``disable()``): then sending it reaches no receiver."""

    def __init__(self, name, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = name
        self._allow_signals = True

    def disable(self):
        self._allow_signals = False

    def enable(self):
        self._allow_signals = True

    def send(self, *args, **kwargs):
        return super().send(*args, **kwargs) if self._allow_signals else []

    def send_robust(self, *args, **kwargs):
        return super().send_robust(*args, **kwargs) if self._allow_signals else []

    def __repr__(self):
        return f"SwitchedSignal('{self.name}')"


class SignalHandler:
    """What the modulestores send when a course is published or deleted (receivers take ``sender``, ``course_key``
    and ``**kwargs``)."""

    pre_publish = SwitchedSignal("pre_publish")
    course_published = SwitchedSignal("course_published")
    course_deleted = SwitchedSignal("course_deleted")
    library_updated = SwitchedSignal("library_updated")
    item_deleted = SwitchedSignal("item_deleted")

    _mapping = {  # noqa: RUF012 - edx-platform's
        signal.name: signal for signal in [pre_publish, course_published, course_deleted, library_updated, item_deleted]
    }

    def __init__(self, modulestore_class):
        self.modulestore_class = modulestore_class

    @classmethod
    def all_signals(cls):
        return cls._mapping.values()

    @classmethod
    def signal_by_name(cls, signal_name):
        return cls._mapping[signal_name]

    def send(self, signal_name, **kwargs):
        """Send the signal to its receivers; each one's answer (or the exception it raised) is logged."""
        signal = self._mapping[signal_name]
        responses = signal.send_robust(sender=self.modulestore_class, **kwargs)
        for receiver, response in responses:
            log.info("Sent %s signal to %s with kwargs %s. Response was: %s", signal_name, receiver, kwargs, response)


# to allow easy imports
globals().update({sig.name.upper(): sig for sig in SignalHandler.all_signals()})

_MODULESTORE = None


def modulestore():
    """The modulestore ``settings.MODULESTORE["default"]`` describes (built on the first call)."""
    global _MODULESTORE
    if _MODULESTORE is None:
        config = settings.MODULESTORE["default"]
        store_class = import_string(config["ENGINE"])
        _MODULESTORE = store_class(signal_handler=SignalHandler(store_class), **config.get("OPTIONS", {}))
    return _MODULESTORE
