from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _clear_orphan_search_rows(sender, using, **kwargs) -> None:
    """`flush` (tests, `kjda manage flush`) empties the tables Django knows; the search index is
    raw SQL, so empty it too when there are no records left."""
    from django.db import connections

    from kjda.archives.models import Record

    if Record.objects.using(using).exists():
        return
    with connections[using].cursor() as cur:
        cur.execute("DELETE FROM archives_search")


class ArchivesConfig(AppConfig):
    name = "kjda.archives"
    label = "archives"
    verbose_name = "会计档案"

    def ready(self) -> None:
        post_migrate.connect(_clear_orphan_search_rows, sender=self)
