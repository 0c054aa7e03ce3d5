from django.apps import AppConfig
from django.db.models.signals import post_migrate

from kjda.accounts.fonds import fonds_lookup_register


def _after_migrate(sender, using, **kwargs) -> None:
    """Keep seed data and the raw-SQL search index consistent after `migrate` and `flush`:
    `flush` (tests, `kjda manage flush`) empties every table Django knows, the retention table
    included, but not the search index."""
    from django.db import connections

    from kjda.archives.models import Record
    from kjda.archives.retention_table import seed_retention_table

    seed_retention_table()
    if Record.objects.using(using).exists():
        return
    from kjda.archives.postings import postings_reset

    postings_reset()  # first: emptying the index then marks nothing dirty
    with connections[using].cursor() as cur:
        cur.execute("DELETE FROM archives_search")


def _fonds_codes_known(codes) -> set[str]:
    from kjda.archives.models import Fonds

    return set(Fonds.objects.filter(code__in=list(codes)).values_list("code", flat=True))


class ArchivesConfig(AppConfig):
    name = "kjda.archives"
    label = "archives"
    verbose_name = "会计档案"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, sender=self)
        # accounts checks the fonds of a user's scope through this, without importing archives
        fonds_lookup_register(_fonds_codes_known)
