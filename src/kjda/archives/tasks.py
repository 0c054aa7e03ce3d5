"""Background work of the archives: bringing the search posting bitmaps up to date, which a
search asks for but never does itself (it runs on a read-only connection)."""

from __future__ import annotations

from django.db import DatabaseError
from django_tasks import task

from kjda.archives import postings


@task()
def postings_refresh_task(tokens: list[str]) -> dict:
    """Bitmaps for `tokens` (terms whose counts were slow) if there is room, and the bitmaps
    brought up to date (kjda.archives.postings)."""
    if tokens:
        postings.postings_note(tokens)
    try:
        return postings.postings_refresh()
    except DatabaseError:  # the lock not got in time: the periodic loop tries again
        return {}
