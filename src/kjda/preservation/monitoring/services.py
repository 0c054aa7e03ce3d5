"""Alarms (issue 19 item 5; GB/T 39784 保存): raised by the monitor's probes and by the fixity
audit and the backup check, open until the system administrator acknowledges them, each new one
told to the system administrators (and, for the stored files, the archivists) in their OA.

The same condition raised again while its alarm is unacknowledged only updates that alarm (last
seen, times seen): a probe that runs every five minutes neither floods the table nor the OA.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import actor_can, users_with_roles
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden, NotFound
from kjda.lifecycle.todos import oa_todo_notify

from . import probes
from .models import STORAGE_KINDS, Alarm, AlarmKind, Severity

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

log = logging.getLogger(__name__)
ALARM_RAISE = "alarm.raise"
ALARM_CLEAR = "alarm.clear"
ALARM_ACKNOWLEDGE = "alarm.acknowledge"
ALARMS_URL = "/system/alarms/"
# The OA notice's reason (kept from before the alarms joined one list: fixity, backup).
_NOTICE_REASON: dict[str, str] = {AlarmKind.FIXITY_DAMAGE: "fixity_alarm",
                                  AlarmKind.BACKUP_OVERDUE: "backup_overdue"}
NOTE_MAX = 2000


@dataclass(frozen=True)
class Raised:
    alarm: Alarm
    created: bool  # a new alarm (else an open one seen again)
    notices: int  # OA notices queued


def _key(kind: str, subject: str) -> str:
    return f"{kind}:{subject}"[:300]


def alarm_raise(*, kind: str, subject: str, title_zh: str, title_en: str, detail_zh: str = "",
                detail_en: str = "", severity: str = Severity.WARNING,
                data: dict[str, Any] | None = None) -> Raised:
    """Raise the alarm for `kind` + `subject`, or, while one is unacknowledged, update it (last
    seen, times seen, the latest detail; a cleared one is open again). A new alarm (and one
    that comes back after being cleared) is audited `alarm.raise`; a new one is also an OA
    to-do for the system administrators (and the archivists for storage and fixity alarms)."""
    if kind not in AlarmKind.values:
        raise ValueError(f"unknown alarm kind {kind!r}")
    subject = subject[:255]
    key = _key(kind, subject)
    now = timezone.now()
    fields = {"severity": severity, "title_zh": title_zh[:300], "title_en": title_en[:300],
              "detail_zh": detail_zh, "detail_en": detail_en, "data": data or {}}
    with transaction.atomic():
        alarm = (Alarm.objects.select_for_update()
                 .filter(key=key, acknowledged_at__isnull=True).first())
        if alarm is None:
            try:
                with transaction.atomic():  # a concurrent raiser may win the one open row
                    alarm = Alarm.objects.create(kind=kind, subject=subject, key=key,
                                                 first_raised_at=now, last_seen_at=now, **fields)
            except IntegrityError:
                alarm = Alarm.objects.select_for_update().get(key=key,
                                                              acknowledged_at__isnull=True)
            else:
                _audit(ALARM_RAISE, alarm, detail={"recurred": False})
                return Raised(alarm, True, _notify(alarm))
        came_back = alarm.cleared_at is not None
        for name, value in fields.items():
            setattr(alarm, name, value)
        alarm.last_seen_at, alarm.times_seen, alarm.cleared_at = now, alarm.times_seen + 1, None
        alarm.save()
        if came_back:
            _audit(ALARM_RAISE, alarm, detail={"recurred": True})
    return Raised(alarm, False, 0)


def alarm_clear(*, kind: str, subject: str) -> int:
    """The condition is gone: mark its open alarm cleared (it stays open until acknowledged).
    Audited `alarm.clear`; the number of alarms cleared (0 or 1)."""
    now = timezone.now()
    with transaction.atomic():
        alarm = (Alarm.objects.select_for_update()
                 .filter(key=_key(kind, subject[:255]), acknowledged_at__isnull=True,
                         cleared_at__isnull=True).first())
        if alarm is None:
            return 0
        alarm.cleared_at = now
        alarm.save(update_fields=["cleared_at"])
        _audit(ALARM_CLEAR, alarm)
    return 1


def alarm_acknowledge(*, alarm_id: int, actor: AbstractBaseUser, note: str = "",
                      request: HttpRequest | None = None) -> Alarm:
    """The system administrator has seen the alarm (with what was done, `note`): it closes;
    the same condition again opens a new alarm. Audited `alarm.acknowledge`."""
    if not actor_can(actor, Perm.ALARM_ACKNOWLEDGE):
        audit_log(action="access.denied", actor=actor, request=request, outcome="denied",
                  object_type="alarm", object_id=alarm_id,
                  detail={"reason": "forbidden", "permission": Perm.ALARM_ACKNOWLEDGE})
        raise Forbidden("alarm_ack_forbidden", "只有系统管理员可以确认告警",
                        "only a system administrator may acknowledge alarms")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise DomainError("alarm_note_too_long", f"说明不能超过 {NOTE_MAX} 字",
                          f"the note may have at most {NOTE_MAX} characters")
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
        if alarm is None:
            raise NotFound("alarm_not_found", "告警不存在", "no such alarm")
        if alarm.acknowledged_at is not None:
            raise Conflict("alarm_acknowledged", "该告警已被确认", "the alarm was already acknowledged")
        alarm.acknowledged_at = timezone.now()
        alarm.acknowledged_by = actor  # type: ignore[assignment]
        alarm.ack_note = note
        alarm.save(update_fields=["acknowledged_at", "acknowledged_by", "ack_note"])
        _audit(ALARM_ACKNOWLEDGE, alarm, actor=actor, request=request, detail={"note": note})
    return alarm


def _audit(action: str, alarm: Alarm, *, actor: AbstractBaseUser | None = None,
           request: HttpRequest | None = None, detail: dict[str, Any] | None = None) -> None:
    audit_log(action=action, actor=actor, request=request, object_type="alarm",
              object_id=alarm.pk,
              # a raised alarm records a failure of the system; clearing and acknowledging succeed
              outcome="failure" if action == ALARM_RAISE else "success",
              detail={"kind": alarm.kind, "subject": alarm.subject, "severity": alarm.severity,
                      "title": alarm.title_zh, "times_seen": alarm.times_seen, **(detail or {})})


def _notify(alarm: Alarm) -> int:
    roles = [Role.SYSADMIN, Role.ARCHIVIST] if alarm.kind in STORAGE_KINDS else [Role.SYSADMIN]
    text = f"{alarm.detail_zh or alarm.title_zh} / {alarm.detail_en or alarm.title_en}"
    return oa_todo_notify(users=users_with_roles(roles=roles),
                          title=f"告警：{alarm.title_zh} / alarm: {alarm.title_en}"[:200],
                          text=text[:2000], url=ALARMS_URL, dedupe_key=f"alarm:{alarm.pk}",
                          reason=_NOTICE_REASON.get(alarm.kind, "system_alarm"), todo=True)


@dataclass
class CheckReport:
    raised: list[str] = field(default_factory=list)  # keys raised (new or seen again)
    cleared: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # probes that could not run


def monitor_check() -> CheckReport:
    """Run every probe once (free space, stores, slow responses, failed jobs, refusals, and
    whether fixity damage and an overdue backup are still there): raise an alarm for each
    condition found, clear the open alarms of conditions gone. A probe that fails is logged
    and reported, never raised: the worker's loop must go on."""
    report = CheckReport()
    started = timezone.now()
    for probe in probes.PROBES:
        try:
            kinds, findings = probe()
        except Exception as exc:  # noqa: BLE001 - one probe's failure must not stop the others
            log.exception("monitor probe %s failed", probe.__name__)
            report.errors.append(f"{probe.__name__}: {exc}"[:300])
            continue
        seen = {(f.kind, f.subject) for f in findings}
        for f in findings:
            alarm_raise(kind=f.kind, subject=f.subject, title_zh=f.title_zh,
                        title_en=f.title_en, detail_zh=f.detail_zh, detail_en=f.detail_en,
                        severity=f.severity, data=f.data)
            report.raised.append(_key(f.kind, f.subject))
        for kind, subject in (Alarm.objects.filter(kind__in=kinds, acknowledged_at__isnull=True,
                                                   cleared_at__isnull=True)
                              .values_list("kind", "subject")):
            if (kind, subject) not in seen and alarm_clear(kind=kind, subject=subject):
                report.cleared.append(_key(kind, subject))
    probes.check_done(started)
    return report
