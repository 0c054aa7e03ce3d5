"""Background tasks of the accounts app (django-tasks)."""

from __future__ import annotations

from django_tasks import task


@task()
def directory_sync_task(connector_pk: str) -> dict:
    from kjda.accounts.directory import directory_sync
    from kjda.connectors.models import Connector

    return directory_sync(connector=Connector.objects.get(pk=connector_pk))
