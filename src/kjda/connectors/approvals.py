"""Approvals KJDA starts in a user's own OA (a loan request approved in DingTalk, WeCom or
Feishu), vendor-neutral.

`approval_submit` writes an `OutgoingApproval` row and its audit event in the caller's
transaction; after commit a task (or, if it is lost, the periodic loop) creates the instance in
the OA through the connector (`OAConnector.approval_create`), so no database transaction is held
open during the HTTP call and a failure is recorded on the row and audited.

The result comes back through the same path as every approval: the vendor's callback lands in
the inbox, and `kjda.connectors.processing` hands an event whose instance belongs to an
outgoing approval to `approval_process_event` before any archiving logic (such an approval is
never archived as a record). The instance is re-fetched (the event alone is never trusted) and
the handler registered for the approval's kind is called exactly once, in the transaction that
marks the row finished. `approvals_poll` asks the OA about approvals still outstanding, so a
missed callback is recovered by the periodic loop and the sweep.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tasks import task

from kjda.audit.services import audit_log
from kjda.connectors.base import ApprovalInstance, OAConnector
from kjda.connectors.models import ApprovalState, Connector, InboxStatus, OutgoingApproval
from kjda.connectors.registry import connector_class
from kjda.connectors.services import connector_build
from kjda.errors import DomainError

log = logging.getLogger(__name__)
MAX_SEND_ATTEMPTS = 5
SEND_BACKOFF = [timedelta(seconds=s) for s in (10, 60, 300, 1800)]
SEND_LEASE = timedelta(minutes=2)  # one sender at a time per approval
POLL_EVERY = timedelta(minutes=2)
# Platform statuses (lower-cased ApprovalInstance.status) of an instance that ended unapproved.
ENDED = frozenset({"rejected", "refused", "refuse", "withdrawn", "revoked", "terminated",
                   "canceled", "cancelled", "deleted", "reverted"})


class ApprovalHandler(Protocol):
    def __call__(self, *, reference: str, approved: bool, approver: str, comment: str,
                 instance_id: str) -> None: ...


_handlers: dict[str, ApprovalHandler | Callable[..., None]] = {}
# kind → called as fn(*, reference, error) when the OA refused to create the approval for good,
# inside the transaction that marks it failed: the requester's side decides another way.
_failure_handlers: dict[str, Callable[..., None]] = {}


def approval_handler_register(kind: str, handler: ApprovalHandler | Callable[..., None]) -> None:
    """Who learns the result of approvals of `kind` (e.g. the loans app for "loan"). Called
    once per kind, typically from an AppConfig.ready(); a second call replaces the first."""
    _handlers[kind] = handler


def approval_failure_register(kind: str, handler: Callable[..., None]) -> None:
    """Who learns that an approval of `kind` could not be created in the OA (called as
    `handler(*, reference, error)`), so the request doesn't wait on an approval that never was."""
    _failure_handlers[kind] = handler


def template_setting(kind: str) -> str:
    """The connector setting naming the platform's template for approvals of `kind`."""
    return f"{kind}_template"


# --- submitting -------------------------------------------------------------------------------

def _route(user: User, kind: str) -> tuple[Connector, str, str] | None:
    """(connector, the user's id on that platform, template) of the first OA the user is
    linked to (allauth account of provider = connector kind) whose enabled connector can start
    approvals and has a template for `kind`."""
    accounts = SocialAccount.objects.filter(user=user).order_by("provider", "pk")
    for provider, uid in accounts.values_list("provider", "uid"):
        try:
            cls = connector_class(provider)
        except DomainError:  # a login provider that is no OA (e.g. OIDC)
            continue
        if not cls.has_approval_create():
            continue
        for connector in Connector.objects.filter(kind=provider, enabled=True).order_by(
                "created_at"):
            template = str((connector.settings or {}).get(template_setting(kind)) or "").strip()
            if template:
                return connector, str(uid), template
    return None


def approval_submit(*, user: User, kind: str, reference: str, title: str,
                    fields: list[tuple[str, str]], url: str) -> OutgoingApproval | None:
    """Route a request as an approval in the OA `user` is linked to; None when the user has
    no linked OA or its connector has no template for `kind` (then approve it in KJDA).
    The row and its audit event (`oa.approval_submit`) are written in the caller's
    transaction; the instance is created in the OA after commit (`approval_send`)."""
    route = _route(user, kind)
    if route is None:
        return None
    connector, originator_id, template = route
    if url.startswith("/"):
        url = settings.KJDA_PUBLIC_URL + url
    with transaction.atomic():
        approval = OutgoingApproval.objects.create(
            connector=connector, kind=kind, reference=reference[:200], user=user,
            originator_id=originator_id, template=template, title=title[:200],
            fields=[[str(k), str(v)] for k, v in fields], url=url[:500])
        audit_log(action="oa.approval_submit", actor=user, object_type="outgoing_approval",
                  object_id=str(approval.pk),
                  detail={"kind": kind, "reference": reference, "connector": str(connector.pk),
                          "platform": connector.kind, "template": template})
        transaction.on_commit(lambda: _enqueue_send(approval.pk))
    return approval


def _enqueue_send(approval_pk: int) -> None:
    try:
        approval_send_task.enqueue(approval_pk)
    except Exception:  # the row is the outbox: the periodic loop sends it anyway
        log.warning("could not enqueue outgoing approval %s", approval_pk, exc_info=True)


def approval_send(*, approval_pk: int) -> str:
    """Create the instance in the OA for a pending approval; returns its state afterwards (or
    "skipped" when another sender holds it or it is not pending). A transient failure is
    retried with backoff; after MAX_SEND_ATTEMPTS, or at once for a configuration error, the
    approval is `failed` (audited `oa.approval_failed`) for the caller to see."""
    now = timezone.now()
    claimed = OutgoingApproval.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=approval_pk, state=ApprovalState.PENDING,
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE)
    if not claimed:
        return "skipped"
    approval = OutgoingApproval.objects.select_related("connector").get(pk=approval_pk)
    try:
        oa = connector_build(approval.connector)
        instance_id = oa.approval_create(
            template=approval.template, originator_id=approval.originator_id,
            title=approval.title, fields=[(str(k), str(v)) for k, v in approval.fields],
            url=approval.url, key=f"kjda-approval-{approval.pk}")
    except Exception as exc:  # noqa: BLE001 - recorded on the row; retried or failed visibly
        return _send_failed(approval, exc)
    with transaction.atomic():
        OutgoingApproval.objects.filter(pk=approval.pk).update(
            state=ApprovalState.SUBMITTED, instance_id=instance_id[:200], last_error="",
            next_attempt_at=None, submitted_at=timezone.now())
        audit_log(action="oa.approval_submitted", object_type="outgoing_approval",
                  object_id=str(approval.pk), actor_name=f"oa:{approval.connector.kind}",
                  detail={"kind": approval.kind, "reference": approval.reference,
                          "instance": instance_id})
    return ApprovalState.SUBMITTED


def _send_failed(approval: OutgoingApproval, exc: BaseException) -> str:
    # Only an OA that did not answer is asked again; one that refused the request (unknown
    # template, a form field it lacks, a user outside the app's range) refuses it again.
    transient = not isinstance(exc, DomainError) or exc.code == "platform_unavailable" or \
        exc.retryable
    text = (exc.message if isinstance(exc, DomainError) else
            "".join(traceback.format_exception_only(type(exc), exc)).strip())
    if transient and approval.attempts < MAX_SEND_ATTEMPTS:
        OutgoingApproval.objects.filter(pk=approval.pk).update(
            last_error=text[:4000],
            next_attempt_at=timezone.now() + SEND_BACKOFF[approval.attempts - 1])
        log.warning("outgoing approval %s not created (attempt %s), will retry: %s",
                    approval.pk, approval.attempts, text)
        return ApprovalState.PENDING
    with transaction.atomic():
        OutgoingApproval.objects.filter(pk=approval.pk).update(
            state=ApprovalState.FAILED, last_error=text[:4000], next_attempt_at=None,
            finished_at=timezone.now())
        audit_log(action="oa.approval_failed", outcome="failure",
                  object_type="outgoing_approval", object_id=str(approval.pk),
                  actor_name=f"oa:{approval.connector.kind}",
                  detail={"kind": approval.kind, "reference": approval.reference,
                          "error": text[:500],
                          "code": exc.code if isinstance(exc, DomainError) else ""})
        if (on_failure := _failure_handlers.get(approval.kind)) is not None:
            on_failure(reference=approval.reference, error=text[:500])
    log.error("outgoing approval %s failed for good: %s", approval.pk, text)
    return ApprovalState.FAILED


@task()
def approval_send_task(approval_pk: int) -> str:
    return approval_send(approval_pk=approval_pk)


def approvals_send_due(*, limit: int = 100) -> int:
    """Send pending approvals whose task was lost or whose retry is due (periodic loop)."""
    now = timezone.now()
    due = list(OutgoingApproval.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        state=ApprovalState.PENDING).order_by("created_at").values_list("pk", flat=True)[:limit])
    return sum(approval_send(approval_pk=pk) != "skipped" for pk in due)


# --- results ----------------------------------------------------------------------------------

def approval_for_instance(*, connector: Connector, instance_id: str) -> OutgoingApproval | None:
    if not instance_id:
        return None
    return OutgoingApproval.objects.filter(connector=connector, instance_id=instance_id).first()


def approval_find(*, kind: str, reference: str) -> OutgoingApproval | None:
    """The latest outgoing approval for the caller's reference (its state, error, result)."""
    return OutgoingApproval.objects.filter(kind=kind, reference=reference).order_by(
        "-created_at", "-pk").first()


def _decision(instance: ApprovalInstance, approved: bool) -> tuple[str, str]:
    """(approver's name, their comment): the last approval step with the deciding result;
    an instance withdrawn or terminated without one is decided by its originator."""
    wanted = "agree" if approved else "refuse"
    for entry in reversed(instance.trail):
        if entry.result == wanted:
            return entry.actor_name or entry.actor_id, entry.remark
    if not approved:
        remark = next((e.remark for e in reversed(instance.trail) if e.remark), "")
        return instance.originator_name or instance.originator_id, remark
    return "", ""


def _outcome(oa: OAConnector, approval: OutgoingApproval) -> dict[str, Any] | None:
    """The platform's answer for the approval's instance, or None while it is running."""
    instance = oa.fetch_instance(approval.instance_id)  # never trust the event alone
    status = (instance.status or "").lower()
    if status == "approved":
        approved = True
    elif status in ENDED:
        approved = False
    else:
        return None
    approver, comment = _decision(instance, approved)
    return {"approved": approved, "approver": approver[:200], "comment": comment,
            "status": status, "finished_at": instance.finished_at}


def approval_finish(*, approval: OutgoingApproval, approved: bool, approver: str,
                    comment: str, source: str, status: str = "",
                    finished_at: datetime | None = None) -> bool:
    """Record the result and call the kind's handler, once: the row moves from `submitted`
    in the same transaction that runs the handler, so a duplicate (a redelivered callback, a
    poll racing the callback) finds it finished and calls nothing; a handler that raises
    rolls the result back for a retry. Audited `oa.approval_result`."""
    handler = _handlers.get(approval.kind)
    if handler is None:
        raise DomainError("approval_handler_missing",
                          f"没有处理「{approval.kind}」审批结果的模块",
                          f"no handler registered for approvals of kind '{approval.kind}'",
                          status=503, retryable=True)
    state = ApprovalState.APPROVED if approved else ApprovalState.REJECTED
    with transaction.atomic():
        moved = OutgoingApproval.objects.filter(
            pk=approval.pk, state=ApprovalState.SUBMITTED).update(
            state=state, approver=approver, comment=comment, finished_at=timezone.now(),
            detail={"status": status, "source": source,
                    "platform_finished_at": finished_at.isoformat() if finished_at else ""})
        if not moved:
            return False
        audit_log(action="oa.approval_result", object_type="outgoing_approval",
                  object_id=str(approval.pk), actor_name=f"oa:{approval.connector.kind}",
                  detail={"kind": approval.kind, "reference": approval.reference,
                          "instance": approval.instance_id, "approved": approved,
                          "approver": approver, "source": source})
        handler(reference=approval.reference, approved=approved, approver=approver,
                comment=comment, instance_id=approval.instance_id)
    return True


def approval_process_event(*, approval: OutgoingApproval, source: str = "callback"
                           ) -> tuple[str, int | None, str]:
    """An inbox event for an outgoing approval: (inbox status, record id, note). Never
    archives anything."""
    if approval.state != ApprovalState.SUBMITTED:
        return (InboxStatus.DONE, None,
                f"借助 OA 的审批已有结果（{approval.state}） / outgoing approval already "
                f"{approval.state}")
    oa = connector_build(approval.connector)
    outcome = _outcome(oa, approval)
    if outcome is None:
        return (InboxStatus.IGNORED, None,
                "OA 中的审批仍在进行 / the approval is still running in the OA")
    finished = approval_finish(approval=approval, source=source, **outcome)
    note = "" if finished else "审批结果已处理（重复事件） / result already handled"
    return InboxStatus.DONE, None, note


def approvals_poll(*, connector: Connector | None = None, every: timedelta = POLL_EVERY,
                   limit: int = 100) -> int:
    """Ask the OA about submitted approvals not asked about for `every` (the recovery of a
    missed callback); returns how many were finished. A platform error is logged and the
    approval asked again next time."""
    now = timezone.now()
    rows = OutgoingApproval.objects.filter(state=ApprovalState.SUBMITTED).exclude(
        instance_id="").filter(Q(polled_at__isnull=True) | Q(polled_at__lte=now - every))
    if connector is not None:
        rows = rows.filter(connector=connector)
    finished = 0
    built: dict[Any, OAConnector] = {}
    for approval in rows.select_related("connector").order_by(
            F("polled_at").asc(nulls_first=True))[:limit]:
        OutgoingApproval.objects.filter(pk=approval.pk).update(polled_at=now)
        try:
            oa = built.get(approval.connector_id) or connector_build(approval.connector)
            built[approval.connector_id] = oa
            outcome = _outcome(oa, approval)
            if outcome is not None:
                finished += approval_finish(approval=approval, source="poll", **outcome)
        except Exception:  # one platform or handler failing must not stop the others
            log.warning("polling outgoing approval %s failed", approval.pk, exc_info=True)
    return finished
