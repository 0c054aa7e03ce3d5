"""The dashboard's to-do (open volumes of an ended year, to close) and the volume a record is in,
as a mention on the record page."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from kjda.archives.models import Record, VolumeStatus
from kjda.lifecycle.mentions import Mention, record_mentions_provider
from kjda.lifecycle.todos import Actor, Todo, todo_provider
from kjda.lifecycle.volumes.selectors import volumes_to_close


@todo_provider
def volumes_todos(actor: Actor) -> list[Todo]:
    year = timezone.localdate().year
    todos = []
    by_year: dict[int, int] = {}
    for fiscal_year in volumes_to_close(actor=actor, before_year=year).values_list("fiscal_year",
                                                                                   flat=True):
        by_year[fiscal_year] = by_year.get(fiscal_year, 0) + 1
    for fiscal_year, n in sorted(by_year.items()):
        url = reverse("web:volume_list") + f"?year={fiscal_year}&status=open"
        todos.append(Todo(workflow="volume", title=f"封卷：{fiscal_year} 年度尚有 {n} 卷未封卷",
                          url=url))
    return todos


@record_mentions_provider
def record_volume_mentions(record: Record) -> list[Mention]:
    if record.volume_id is None:
        return []
    volume = record.volume
    if volume is None:
        return []
    return [Mention(workflow="volume", label=f"案卷 {volume.archive_no or volume.title}",
                    state=VolumeStatus(volume.status).label,
                    url=reverse("web:volume_detail", args=[volume.pk]),
                    when=volume.closed_at)]


