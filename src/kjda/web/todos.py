"""The dashboard's to-dos for pending records (issue 17 item 1): each pending record the user
may put right, linked to the part of its page that says what failed and offers the fixes."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from kjda.archives.selectors import records_to_put_right
from kjda.lifecycle.todos import Actor, Todo


def pending_record_todos(actor: Actor) -> list[Todo]:
    return [Todo(workflow="pending",
                 title=_("补正待处理档案：%(title)s") % {"title": r.title},
                 url=reverse("web:record_detail", args=[r.pk]) + "#fix", since=r.created_at)
            for r in records_to_put_right(actor=actor)]
