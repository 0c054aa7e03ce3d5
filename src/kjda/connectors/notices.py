"""Outbox of notices and to-dos for OA users: rows written in the same transaction as their
cause, sent by a task with retries, so a notice is never lost and never sent twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from kjda.accounts.sso.inapp import INAPP_FLOWS
from kjda.connectors.models import Connector, InboxEvent, Notice, NoticeStatus
from kjda.connectors.services import connector_build, connector_persist_updates

log = logging.getLogger(__name__)
MAX_NOTICE_ATTEMPTS = 8


def record_url(record_id: int) -> str:
    return f"{settings.KJDA_PUBLIC_URL}/records/{record_id}/"


def oa_link(kind: str, url: str) -> str:
    """A KJDA link as a notice in the OA carries it: on a platform with an in-app login
    (DingTalk, WeCom, Feishu) through the entry page `/m/<platform>/?next=<path>`, so tapping
    it inside the OA signs the person in without a password; elsewhere (Weaver, webhooks) and
    for a link to another site, unchanged."""
    base = settings.KJDA_PUBLIC_URL
    if kind not in INAPP_FLOWS or not url.startswith(base + "/"):
        return url
    path = url[len(base):]
    if path.startswith("/m/"):
        return url
    return f"{base}/m/{kind}/?next={quote(path, safe='/')}"


def notice_create(*, connector: Connector, user_ids: list[str], reason: str, title: str,
                  text: str, url: str, dedupe_key: str, todo: bool = False,
                  inbox_event: InboxEvent | None = None,
                  record_id: int | None = None) -> Notice | None:
    users = [u for u in dict.fromkeys(user_ids) if u]
    if not users:
        return None
    if url.startswith("/"):
        url = settings.KJDA_PUBLIC_URL + url
    url = oa_link(connector.kind, url)
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                connector=connector, user_ids=users, reason=reason, title=title[:200],
                text=text, url=url[:500], todo=todo, dedupe_key=dedupe_key[:200],
                inbox_event=inbox_event, record_id=record_id)
    except IntegrityError:
        return None  # already queued for this cause
    transaction.on_commit(lambda: _enqueue_send(notice.pk))
    return notice


def _enqueue_send(notice_pk: int) -> None:
    try:
        notice_send_task.enqueue(notice_pk)
    except Exception:  # the row is the outbox: the periodic loop sends it anyway
        log.warning("could not enqueue notice %s", notice_pk, exc_info=True)


def notice_send(*, notice_pk: int) -> str:
    # Claim: only one sender per notice, however many workers saw it.
    claimed = Notice.objects.filter(pk=notice_pk, status=NoticeStatus.PENDING).update(
        status=NoticeStatus.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now())
    if not claimed:
        return "skipped"
    notice = Notice.objects.select_related("connector").get(pk=notice_pk)
    oa = connector_build(notice.connector)
    try:
        message_id = oa.notify(
            user_ids=list(notice.user_ids), title=notice.title, text=notice.text, url=notice.url,
            todo=notice.todo, key=f"kjda-notice-{notice.pk}")
        connector_persist_updates(connector=notice.connector, oa=oa)
    except Exception as exc:  # noqa: BLE001 - recorded; retried by the periodic sweep
        status = NoticeStatus.FAILED if notice.attempts >= MAX_NOTICE_ATTEMPTS \
            else NoticeStatus.PENDING
        Notice.objects.filter(pk=notice.pk).update(status=status, last_error=str(exc)[:2000])
        log.warning("notice %s failed (attempt %s): %s", notice.pk, notice.attempts, exc)
        return status
    Notice.objects.filter(pk=notice.pk).update(status=NoticeStatus.SENT, sent_at=timezone.now(),
                                               platform_message_id=str(message_id)[:200],
                                               last_error="")
    return NoticeStatus.SENT


@task()
def notice_send_task(notice_pk: int) -> str:
    return notice_send(notice_pk=notice_pk)


def notices_due(*, limit: int = 100) -> list[int]:
    """Notices to (re)send; a sender that died mid-way releases its claim after 10 minutes."""
    stale = timezone.now() - timedelta(minutes=10)
    Notice.objects.filter(status=NoticeStatus.SENDING, claimed_at__lt=stale).update(
        status=NoticeStatus.PENDING)
    return list(Notice.objects.filter(status=NoticeStatus.PENDING)
                .order_by("created_at").values_list("pk", flat=True)[:limit])
