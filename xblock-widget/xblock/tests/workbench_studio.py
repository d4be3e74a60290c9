"""The workbench as Studio and the LMS see a course: test scaffolding, never installed with the package.

With ``IBAL_WORKBENCH_COURSE_ID`` the workbench has a course, and tests/workbench_settings.py puts
tests/workbench_platform (stand-ins for edx-platform's modules) on ``sys.path`` and names this module's
:class:`WorkbenchModuleStore` as the modulestore (``settings.MODULESTORE``). Then:

* ``POST /ibal-workbench/publish/<scenario>/`` is Studio's Publish: the course OLX scenario (``course.<n>``,
  tests/workbench_blocks.py) becomes the published version of the workbench's course, and the modulestore
  sends ``course_published`` with the course key through its ``SignalHandler``, as edx-platform's split
  modulestore does at the end of a publish. Whoever listens reacts: the plugin app ``ibal_xblock.openedx``,
  whose receivers edx-platform's plugins app connected from its ``plugin_app["signals_config"]``, indexes the
  course (inline: the workbench has no Celery app) through ``modulestore().get_course`` into the gateway;
* ``modulestore().get_course(key, depth=None)`` answers the published course as XBlocks read from the
  scenario's OLX, with split-modulestore usage keys (``block-v1:…+branch@published-branch+type@html+block@
  <url_name>``, the OLX's ``url_name`` attribute, else ``<type><n>``), as Studio's modulestore hands them out
  under ``branch_setting(published_only)``; ``get_course_summaries()`` lists it (``./manage.py ibal_index``);
* ``GET /courses/<course>/jump_to/<usage key>`` is the LMS's: a block of the published course leads to the
  workbench page of its scenario (the course's LMS_ROOT_URL is then the workbench's own URL).

What is published is kept in a JSON file beside the workbench's database (``OPTIONS["published_file"]``), so
every process of the workbench (the server, a management command) reads the same course.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from lxml import etree
from xblock.exceptions import NoSuchDefinition, NoSuchUsage
from xblock.runtime import DictKeyValueStore, IdGenerator, IdReader, KvsFieldData, Runtime


class _CourseIds(IdReader, IdGenerator):
    """The ids of one course's blocks: a block's definition id and usage id are both its usage key."""

    def __init__(self, course_key):
        self.course_key = course_key
        self.url_name = None  # the url_name of the node being read, set by the runtime
        self._types = {}
        self._generated = defaultdict(itertools.count)

    def create_definition(self, block_type, slug=None):
        block_id, self.url_name = slug or self.url_name or f"{block_type}{next(self._generated[block_type])}", None
        key = self.course_key.make_usage_key(block_type, block_id)
        if key in self._types:
            raise ValueError(f"two blocks of the course are {key}: give them url_names of their own")
        self._types[key] = block_type
        return key

    def create_usage(self, def_id):
        return def_id

    def get_definition_id(self, usage_id):
        if usage_id not in self._types:
            raise NoSuchUsage(repr(usage_id))
        return usage_id

    def get_block_type(self, def_id):
        try:
            return self._types[def_id]
        except KeyError:
            raise NoSuchDefinition(repr(def_id)) from None

    def create_aside(self, definition_id, usage_id, aside_type):
        raise NotImplementedError("the workbench's courses have no asides")

    def get_usage_id_from_aside(self, aside_id):
        raise NotImplementedError

    def get_definition_id_from_aside(self, aside_id):
        raise NotImplementedError

    def get_aside_type_from_usage(self, aside_id):
        raise NotImplementedError

    def get_aside_type_from_definition(self, aside_id):
        raise NotImplementedError

    def usage_keys(self):
        return set(self._types)


class _PublishedCourseRuntime(Runtime):
    """Reads a course's OLX into XBlocks keyed in the course (read, never rendered: no handlers, no resources)."""

    def __init__(self, ids):
        super().__init__(ids, ids, services={"field-data": KvsFieldData(DictKeyValueStore())})

    def _usage_id_from_node(self, node, parent_id):
        # As edx-platform's OLX import: ``url_name`` names the block, it is no field of it.
        self.id_generator.url_name = node.attrib.pop("url_name", None)
        return super()._usage_id_from_node(node, parent_id)

    def handler_url(self, block, handler_name, suffix="", query="", thirdparty=False):
        raise NotImplementedError("a published course read by the modulestore is not rendered")

    def resource_url(self, resource):
        raise NotImplementedError("a published course read by the modulestore is not rendered")

    def local_resource_url(self, block, uri):
        raise NotImplementedError("a published course read by the modulestore is not rendered")

    def publish(self, block, event_type, event_data):
        raise NotImplementedError("a published course read by the modulestore sends no events")


def course_scenario_xml(scenario):
    """The OLX of a workbench scenario that is a course (its root element is ``<course>``); LookupError if none."""
    from workbench.scenarios import get_scenarios

    found = get_scenarios().get(scenario)
    if found is None:
        raise LookupError(f"there is no workbench scenario {scenario!r}")
    if etree.fromstring(found.xml).tag != "course":
        raise LookupError(f"the workbench scenario {scenario!r} is not a course")
    return found.xml


def read_course(course_key, xml):
    """The course OLX as XBlocks whose usage keys are of ``course_key`` (keep its branch); the root gets ``id``."""
    ids = _CourseIds(course_key)
    runtime = _PublishedCourseRuntime(ids)
    course = runtime.get_block(runtime.parse_xml_string(xml))
    course.id = course_key
    course.location = course.scope_ids.usage_id
    return course, ids.usage_keys()


class WorkbenchModuleStore:
    """The workbench's modulestore: its course's published version is a course OLX scenario (see the module)."""

    def __init__(self, signal_handler=None, published_file=None):
        self.signal_handler = signal_handler
        self.published_file = Path(published_file or Path(tempfile.gettempdir()) / "ibal-workbench-published.json")
        self._branch = None

    # -------------------------------------------------- what was published (one JSON file)

    def _published(self):
        try:
            return json.loads(self.published_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def _write(self, published):
        temporary = self.published_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(published, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.published_file)

    def published_scenario(self, course_key):
        """The scenario published as the course, or None."""
        return self._published().get(str(course_key.for_branch(None)))

    # -------------------------------------------------- edx-platform's modulestore interface

    @contextmanager
    def branch_setting(self, branch_setting, course_id=None):  # noqa: ARG002 - edx-platform's signature
        """Within it, courses are read from the branch named (a ``ModuleStoreEnum.Branch``)."""
        previous, self._branch = self._branch, branch_setting
        try:
            yield
        finally:
            self._branch = previous

    def get_branch_setting(self, course_id=None):  # noqa: ARG002 - edx-platform's signature
        from xmodule.modulestore import ModuleStoreEnum

        return self._branch or ModuleStoreEnum.Branch.published_only

    def get_course(self, course_key, depth=0, **kwargs):  # noqa: ARG002 - the whole course is always read
        """The course (its published version: the workbench has no drafts), or None when it was never published."""
        from xmodule.modulestore import ModuleStoreEnum

        scenario = self.published_scenario(course_key)
        if scenario is None:
            return None
        course, _keys = read_course(
            course_key.for_branch(ModuleStoreEnum.BranchName.published), course_scenario_xml(scenario)
        )
        return course

    def get_course_summaries(self, **kwargs):  # noqa: ARG002 - edx-platform's signature
        from opaque_keys.edx.keys import CourseKey

        return [
            SimpleNamespace(id=CourseKey.from_string(course_id), display_name=None)
            for course_id in sorted(self._published())
        ]

    def delete_course(self, course_key, user_id):  # noqa: ARG002 - edx-platform's signature
        """Forget the course, then send ``course_deleted`` (as edx-platform's modulestores do)."""
        published = self._published()
        published.pop(str(course_key.for_branch(None)), None)
        self._write(published)
        self.signal_handler.send("course_deleted", course_key=course_key.for_branch(None))

    # -------------------------------------------------- the workbench's Studio

    def publish_scenario(self, course_key, scenario, user_id):  # noqa: ARG002 - who published, as in Studio
        """Make the course OLX scenario the published version of the course, then send ``course_published``."""
        course_scenario_xml(scenario)  # a course, or LookupError
        published = self._published()
        published[str(course_key.for_branch(None))] = scenario
        self._write(published)
        self.signal_handler.send("course_published", course_key=course_key.for_branch(None))


# ------------------------------------------------------------------ views (tests/workbench_urls.py)


def _course_key():
    from opaque_keys.edx.keys import CourseKey

    course_id = getattr(settings, "IBAL_WORKBENCH_COURSE_ID", "")
    if not course_id:
        raise Http404("the workbench has no course (IBAL_WORKBENCH_COURSE_ID)")
    return CourseKey.from_string(course_id)


@csrf_exempt
def publish(request, scenario):
    """``POST``: publish the course OLX scenario as the workbench's course (Studio's Publish)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    from xmodule.modulestore import ModuleStoreEnum
    from xmodule.modulestore.django import modulestore

    course_key = _course_key()
    try:
        modulestore().publish_scenario(course_key, scenario, ModuleStoreEnum.UserID.mgmt_command)
    except LookupError as error:
        raise Http404(str(error)) from None
    return JsonResponse({"course_id": str(course_key), "scenario": scenario})


def jump_to(request, course_id, location):  # noqa: ARG001 - a Django view
    """The LMS's ``/courses/<course>/jump_to/<block>``: the workbench page of the course holding the block."""
    from opaque_keys import InvalidKeyError
    from opaque_keys.edx.keys import CourseKey, UsageKey
    from xmodule.modulestore import ModuleStoreEnum
    from xmodule.modulestore.django import modulestore

    try:
        course_key, usage_key = CourseKey.from_string(course_id), UsageKey.from_string(location)
    except InvalidKeyError:
        raise Http404("not a course and a block of it") from None
    store = modulestore()
    scenario = store.published_scenario(course_key) if course_key == _course_key() else None
    if scenario is None:
        raise Http404(f"no published course {course_key}")
    branch = ModuleStoreEnum.BranchName.published
    _course, keys = read_course(course_key.for_branch(branch), course_scenario_xml(scenario))
    if usage_key.course_key != course_key or usage_key.for_branch(branch) not in keys:
        raise Http404(f"{usage_key} is no block of {course_key}")
    return redirect(f"/scenario/{scenario}/")
