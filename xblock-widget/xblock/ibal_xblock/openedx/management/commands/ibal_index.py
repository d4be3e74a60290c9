"""``./manage.py cms ibal_index <course_id>… | --all [--full]``: push courses to the gateway's course index.

For the first indexing of existing courses (the Tutor plugin runs ``--all`` in ``init-llm``)
and to catch up after the gateway was unreachable. Incremental like a publish: only the
blocks the gateway lacks or holds in another version are sent, unless ``--full``.
Exits with an error when a course could not be indexed (the others are still done).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import edx_platform, indexer
from ...errors import IbalServiceError, NotConfigured
from ...gateway_client import GatewayClient


class Command(BaseCommand):
    help = (
        "Push the published content of courses to the IBAL gateway's course index: only what changed since the "
        "last push, unless --full."
    )

    def add_arguments(self, parser):
        parser.add_argument("course_ids", nargs="*", metavar="course_id", help="e.g. course-v1:OpenedX+DemoX+Demo")
        parser.add_argument("--all", action="store_true", dest="all_courses", help="every course in Studio")
        parser.add_argument("--full", action="store_true", help="send every block, whatever the gateway holds")

    def handle(self, *args: Any, course_ids: list[str], all_courses: bool, full: bool, **options: Any) -> None:  # noqa: ARG002
        if all_courses == bool(course_ids):
            raise CommandError("Name the courses to index, or use --all (not both).")
        try:
            client = GatewayClient(indexer.service_config())
        except NotConfigured as error:
            raise CommandError(f"IBAL course indexing is disabled: {error}") from None
        if all_courses:
            course_ids = edx_platform.all_course_ids()
            self.stdout.write(f"Indexing {len(course_ids)} courses")
        failed = 0
        for course_id in course_ids:
            try:
                result = indexer.index_course(course_id, full=full, client=client)
            except IbalServiceError as error:
                failed += 1
                self.stderr.write(f"{course_id}: {error}")
                continue
            self.stdout.write(f"{result.course_id}: {result.summary()}")
        if failed:
            raise CommandError(f"{failed} of {len(course_ids)} courses could not be indexed")
