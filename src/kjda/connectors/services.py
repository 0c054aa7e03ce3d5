"""Connector configuration and the callback intake: verify, write the inbox row, commit, answer.

The callback handler does the least that is safe before it answers (DingTalk wants an answer
within 1.5 s): verification and decryption over the exact bytes, a replay check, the inbox rows
in one transaction; processing happens in a task after commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connections, transaction
from django.db.models import Field, Model
from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles
from kjda.archives.models import Record
from kjda.archives.services import rule_for_category
from kjda.audit.services import audit_log
from kjda.connectors.base import (
    ApprovalEvent,
    CallbackOutcome,
    CallbackRejected,
    CallbackReply,
    CallbackRequest,
    OAConnector,
)
from kjda.connectors.instances import instance_to_json
from kjda.connectors.models import (
    Connector,
    InboxEvent,
    InboxStatus,
    Mapping,
    ReplayGuard,
    Scenario,
)
from kjda.connectors.registry import connector_class
from kjda.connectors.secrets import secrets_decrypt, secrets_encrypt
from kjda.errors import Conflict, DomainError, Forbidden, NotFound

log = logging.getLogger(__name__)
REPLAY_WINDOW = timedelta(minutes=10)
# (kind, settings JSON, encrypted secrets): the connector row a callback was verified with
ConnectorKey = tuple[str, str, str]


def _destination_changes(cls: type[OAConnector], before: dict[str, Any], after: dict[str, Any],
                         *, actor: User | None, request: HttpRequest | None = None,
                         connector_pk: str = "") -> list[tuple[str, str, str]]:
    """(name, old, new) of each destination setting (base URLs, notify URL) that `after`
    changes from `before` (a blank value is its default). Each must be an http(s) URL, and
    only a system administrator may set one (vendor credentials go where it points); `actor`
    None is the system itself (settings a connector learns, tests, the CLI)."""
    changes = []
    for spec in cls.settings_spec:
        if not spec.destination:
            continue
        old = str(before.get(spec.name) or spec.default or "").strip()
        new = str(after.get(spec.name) or spec.default or "").strip()
        if old.rstrip("/") == new.rstrip("/"):
            continue
        if new and actor is not None:
            parts = urlsplit(new)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
                    or parts.password:
                raise DomainError("connector_url_invalid",
                                  f"设置 {spec.name} 必须是 http(s) 地址（不含用户名密码）",
                                  f"setting {spec.name} must be an http(s) URL without "
                                  "credentials", status=422)
        changes.append((spec.name, old, new))
    if changes and actor is not None and Role.SYSADMIN not in actor_roles(actor):
        # Nothing was written yet (the write comes after this check): the refusal stands alone.
        audit_log(action="access.denied", actor=actor, request=request, outcome="denied",
                  object_type="connector", object_id=connector_pk,
                  detail={"reason": "connector_destination_sysadmin_only", "kind": cls.kind,
                          "settings": [c[0] for c in changes]})
        raise Forbidden("connector_destination_sysadmin_only",
                        f"只有系统管理员可以设置或修改平台地址（{', '.join(c[0] for c in changes)}）",
                        "only the system administrator may set or change the platform "
                        f"address ({', '.join(c[0] for c in changes)})")
    return changes


def _destination_audit(changes: list[tuple[str, str, str]], *, connector: Connector,
                       actor: User | None, request: HttpRequest | None) -> None:
    for name, old, new in changes:
        audit_log(action="connector.base_url_changed", actor=actor, request=request,
                  object_type="connector", object_id=str(connector.pk),
                  detail={"kind": connector.kind, "setting": name, "old": old, "new": new})


def connector_create(*, kind: str, name: str, settings: dict[str, Any], fonds_code: str = "",
                     finance_owner_ids: list[str] | None = None, actor: User | None = None,
                     request: HttpRequest | None = None) -> Connector:
    cls = connector_class(kind)
    values = {k: ("" if v is None else str(v)) for k, v in (settings or {}).items()}
    known = {s.name for s in cls.settings_spec}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DomainError("connector_settings_unknown", f"未知的设置项：{', '.join(unknown)}",
                          f"unknown settings: {', '.join(unknown)}", status=422)
    cls(values)  # validates required settings
    changes = _destination_changes(cls, {}, values, actor=actor, request=request)
    secret_names = cls.secret_names()
    with transaction.atomic():
        connector = Connector.objects.create(
            kind=kind, name=name[:100] or kind, fonds_code=fonds_code,
            finance_owner_ids=list(finance_owner_ids or []),
            settings={k: v for k, v in values.items() if k not in secret_names},
            secrets_encrypted=secrets_encrypt({k: v for k, v in values.items()
                                               if k in secret_names}))
        audit_log(action="connector.create", actor=actor, request=request,
                  object_type="connector", object_id=str(connector.pk),
                  detail={"kind": connector.kind, "name": connector.name})
        _destination_audit(changes, connector=connector, actor=actor, request=request)
    return connector


def connector_update_settings(*, connector: Connector, settings: dict[str, Any],
                              actor: User | None = None,
                              request: HttpRequest | None = None) -> Connector:
    """Change some settings; secrets given replace the stored ones, others stay. A change of
    a platform address needs the system administrator (when `actor` is a person) and is
    audited as `connector.base_url_changed` with the old and new address."""
    cls = connector_class(connector.kind)
    unknown = sorted(set(settings) - {s.name for s in cls.settings_spec})
    if unknown:
        raise DomainError("connector_settings_unknown", f"未知的设置项：{', '.join(unknown)}",
                          f"unknown settings: {', '.join(unknown)}", status=422)
    secrets = secrets_decrypt(connector.secrets_encrypted)
    merged = {**connector.settings, **secrets,
              **{k: "" if v is None else str(v) for k, v in settings.items()}}
    cls(merged)
    changes = _destination_changes(cls, connector.settings, merged, actor=actor, request=request,
                                   connector_pk=str(connector.pk))
    secret_names = cls.secret_names()
    with transaction.atomic():
        connector.settings = {k: v for k, v in merged.items() if k not in secret_names}
        connector.secrets_encrypted = secrets_encrypt(
            {k: v for k, v in merged.items() if k in secret_names})
        connector.save(update_fields=["settings", "secrets_encrypted"])
        if actor is not None:  # names only: values may be secrets
            audit_log(action="connector.update", actor=actor, request=request,
                      object_type="connector", object_id=str(connector.pk),
                      detail={"kind": connector.kind, "settings": sorted(settings)})
        _destination_audit(changes, connector=connector, actor=actor, request=request)
    return connector


def connector_build(connector: Connector) -> OAConnector:
    cls = connector_class(connector.kind)
    merged = {**connector.settings, **secrets_decrypt(connector.secrets_encrypted)}
    return cls(merged, connector_id=str(connector.pk))


_callback_connectors = threading.local()


def connector_for_callbacks(connector: Connector) -> OAConnector:
    """`connector_build` for the callback path, reused per thread while the row's settings and
    secrets stay the same (the row is read on every callback, so a change applies at once).
    Building is costly (DingTalk makes two HTTP clients, each loading the CA bundle: ~45 ms of
    CPU) and verifying a callback only reads the object; one per thread, so nothing is shared
    across threads."""
    key = (str(connector.pk), connector.kind, connector.secrets_encrypted,
           json.dumps(connector.settings, sort_keys=True, default=str))
    cache = getattr(_callback_connectors, "built", None)
    if cache is None:
        cache = _callback_connectors.built = {}
    oa = cache.get(key)
    if oa is None:
        if len(cache) >= 16:
            cache.clear()
        oa = cache[key] = connector_build(connector)
    return oa


def connector_public_settings(connector: Connector) -> dict[str, Any]:
    """Settings as shown after creation: secrets never come back, only that they are set."""
    cls = connector_class(connector.kind)
    secrets = secrets_decrypt(connector.secrets_encrypted)
    shown = dict(connector.settings)
    for name in cls.secret_names():
        shown[name] = "******" if secrets.get(name) else ""
    return shown


def mapping_create(*, connector: Connector, process_code: str, scenario: str, category: str,
                   fields: dict[str, str], actor: User | None = None,
                   request: HttpRequest | None = None) -> Mapping:
    """Map an approval template of `connector` to a scenario and an archive category; audited
    (`connector.mapping_create`). 409 when the template already has a mapping."""
    if scenario not in Scenario.values:
        raise DomainError("scenario_unknown", f"未知的业务场景：{scenario}",
                          f"unknown scenario: {scenario}", status=422)
    rule_for_category(name=category)  # unknown category → 400
    if not process_code:
        raise DomainError("process_code_missing", "缺少审批模板编码", "process_code is required",
                          status=422)
    try:
        with transaction.atomic():
            mapping = Mapping.objects.create(connector=connector, process_code=process_code,
                                             scenario=scenario, category=category,
                                             fields=dict(fields or {}))
            audit_log(action="connector.mapping_create", actor=actor, request=request,
                      object_type="connector", object_id=str(connector.pk),
                      detail={"process_code": process_code, "scenario": scenario,
                              "category": category, "fields": dict(fields or {})})
            return mapping
    except IntegrityError as exc:
        raise DomainError("mapping_exists", f"审批模板 {process_code} 已有映射",
                          f"process code {process_code} already has a mapping",
                          status=409) from exc


def _connector_for_callback(connector_id: str) -> Connector:
    connector = Connector.objects.filter(pk=connector_id, enabled=True).first()
    if connector is None:
        raise NotFound("connector_not_found", "连接器不存在或已停用",
                       "connector not found or disabled")
    return connector


def callback_refusal_audit(*, connector: Connector, request: CallbackRequest,
                           exc: CallbackRejected) -> None:
    audit_log(action="oa.callback_rejected", outcome="denied", object_type="connector",
              object_id=str(connector.pk), ip=request.remote_addr or None,
              user_agent=request.headers.get("user-agent", ""),
              detail={"kind": connector.kind, "code": exc.code, "reason": exc.en})


def callback_receive(*, connector_id: str, request: CallbackRequest) -> CallbackReply:
    """Verify one callback and commit its events to the inbox; return the vendor's answer.
    Rejections are audited and raised (4xx); nothing is processed for them."""
    connector = _connector_for_callback(connector_id)
    try:
        outcome = connector_for_callbacks(connector).handle_callback(request)
    except CallbackRejected as exc:
        callback_refusal_audit(connector=connector, request=request, exc=exc)
        raise
    if outcome.replay_key or outcome.events:  # (a handshake commits nothing)
        inbox_events_commit(batch=[inbox_delivery(connector_pk=connector.pk, kind=connector.kind,
                                                  outcome=outcome, request=request)])
    # No task per event: every task worker's intake loop claims received inbox rows.
    return outcome.reply


# --- the one write of a received callback (the Django view and the lean path both use it) --

@dataclass
class InboxDelivery:
    """One verified callback, ready to commit: the connector it was verified with, the
    delivery's replay key and the inbox rows of its events (event id, `inbox_event_values`)."""

    connector_pk: uuid.UUID
    kind: str
    replay_key: str
    rows: list[tuple[str, dict[str, Any]]]
    # The connector row (`callback_connector_keys`) the callback was verified with, when the
    # caller verified it with a cached connector: inside the commit the row must still be that.
    connector_key: ConnectorKey | None = None
    remote_addr: str = ""
    user_agent: str = ""


def inbox_delivery(*, connector_pk: uuid.UUID, kind: str, outcome: CallbackOutcome,
                   request: CallbackRequest, connector_key: ConnectorKey | None = None
                   ) -> InboxDelivery:
    return InboxDelivery(connector_pk=connector_pk, kind=kind, replay_key=outcome.replay_key,
                         rows=[(e.event_id, inbox_event_values(e)) for e in outcome.events],
                         connector_key=connector_key, remote_addr=request.remote_addr,
                         user_agent=request.headers.get("user-agent", ""))


def inbox_events_commit(*, batch: list[InboxDelivery]) -> list[str]:
    """Commit verified callbacks in one transaction: each delivery's replay key (a
    byte-identical redelivery, now or earlier in the batch, writes nothing and is audited as
    `oa.callback_replayed`) and its inbox rows (an event id already in the inbox is skipped).
    Returns each delivery's result: `committed`, `replayed`, or `stale` (its connector was
    changed or disabled since the caller verified it: verify again with the row as it is).
    The caller answers the platform only after this returns."""
    connection = connections["default"]
    now = timezone.now()
    results = ["committed"] * len(batch)
    with transaction.atomic(), connection.cursor() as cursor:
        checked = {d.connector_pk for d in batch if d.connector_key is not None}
        current = callback_connector_keys(connector_pks=checked, cursor=cursor) if checked else {}
        for i, delivery in enumerate(batch):
            if delivery.connector_key is not None and \
                    current.get(delivery.connector_pk) != delivery.connector_key:
                results[i] = "stale"
        keyed = [(i, str(d.connector_pk), d.replay_key[:200]) for i, d in enumerate(batch)
                 if d.replay_key and results[i] == "committed"]
        if keyed:
            fresh = _replay_keys_insert(cursor, connection, keyed, now)
            seen: set[tuple[str, str]] = set()
            for i, pk, key in keyed:
                if (pk, key) not in fresh or (pk, key) in seen:
                    results[i] = "replayed"
                seen.add((pk, key))
        rows = [(d.connector_pk, event_id, values)
                for d, result in zip(batch, results, strict=True)
                if result == "committed" for event_id, values in d.rows]
        if rows:
            _inbox_rows_insert(cursor, connection, rows, now)
        for delivery, result in zip(batch, results, strict=True):
            if result == "replayed":
                # A platform retrying because our first answer was lost, or someone replaying
                # a captured message: answered as delivered (or the platform keeps retrying and
                # may disable the endpoint), archived once.
                audit_log(action="oa.callback_replayed", outcome="success",
                          object_type="connector", object_id=str(delivery.connector_pk),
                          ip=delivery.remote_addr or None, user_agent=delivery.user_agent,
                          detail={"kind": delivery.kind,
                                  "reason": "already accepted; not archived again"})
    if "committed" in results:
        callbacks_mark_busy()
    return results


def callback_connector_keys(*, connector_pks: Iterable[uuid.UUID], cursor: Any = None
                            ) -> dict[uuid.UUID, ConnectorKey]:
    """(kind, settings JSON, encrypted secrets) of the enabled connectors among
    `connector_pks`: what a callback is verified with, compared again inside the commit."""
    connection = connections["default"]
    table = connection.ops.quote_name(Connector._meta.db_table)
    pks = list(connector_pks)
    with contextlib.nullcontext(cursor) if cursor is not None else connection.cursor() as cur:
        cur.execute(f"SELECT id, kind, settings, secrets_encrypted FROM {table} "  # noqa: S608 - our table
                    f"WHERE enabled AND id IN ({', '.join(['%s'] * len(pks))})",
                    [_prep(Connector, "id", pk, connection) for pk in pks])
        rows = cur.fetchall()
    return {uuid.UUID(str(pk)): (kind, settings if isinstance(settings, str) else
                                 json.dumps(settings, sort_keys=True), secrets or "")
            for pk, kind, settings, secrets in rows}


def _prep(model: type[Model], name: str, value: Any, connection: Any) -> Any:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, never a reverse relation
    return field.get_db_prep_save(value, connection)


def _replay_keys_insert(cursor: Any, connection: Any, keyed: list[tuple[int, str, str]],
                        now: datetime) -> set[tuple[str, str]]:
    """Insert the replay keys; return those that were new (one statement for the batch)."""
    table = connection.ops.quote_name(ReplayGuard._meta.db_table)
    values: list[str] = []
    params: list[Any] = []
    seen_at = _prep(ReplayGuard, "seen_at", now, connection)
    for _i, pk, key in keyed:
        values.append("(%s, %s, %s)")
        params += [_prep(ReplayGuard, "connector", uuid.UUID(pk), connection), key, seen_at]
    cursor.execute(f"INSERT INTO {table} (connector_id, key, seen_at) VALUES "  # noqa: S608 - our table
                   f"{', '.join(values)} ON CONFLICT (connector_id, key) DO NOTHING "
                   "RETURNING connector_id, key", params)
    return {(str(uuid.UUID(str(pk))), key) for pk, key in cursor.fetchall()}


INBOX_COLUMNS = ("connector_id", "event_id", "instance_id", "process_code", "action",
                 "event_type", "payload", "status", "attempts", "last_error", "source",
                 "received_at")


def _inbox_rows_insert(cursor: Any, connection: Any, rows: list[tuple[uuid.UUID, str, dict[str, Any]]],
                       now: datetime) -> None:
    table = connection.ops.quote_name(InboxEvent._meta.db_table)
    received_at = _prep(InboxEvent, "received_at", now, connection)
    placeholders = "(" + ", ".join(["%s"] * len(INBOX_COLUMNS)) + ")"
    params: list[Any] = []
    for connector_pk, event_id, v in rows:
        params += [_prep(InboxEvent, "connector", connector_pk, connection), event_id[:200],
                   v["instance_id"], v["process_code"], v["action"], v["event_type"],
                   _prep(InboxEvent, "payload", v["payload"], connection), v["status"], 0, "",
                   "callback", received_at]
    cursor.execute(f"INSERT INTO {table} ({', '.join(INBOX_COLUMNS)}) VALUES "  # noqa: S608 - our table
                   f"{', '.join([placeholders] * len(rows))} "
                   "ON CONFLICT (connector_id, event_id) DO NOTHING", params)


def inbox_event_values(event: ApprovalEvent) -> dict[str, Any]:
    """The inbox row of one verified event."""
    payload = dict(event.payload)
    if event.reason:
        payload["_reason"] = event.reason
    if event.instance is not None:
        payload["_instance"] = instance_to_json(event.instance)
    return {"instance_id": event.instance_id[:200], "process_code": event.process_code[:200],
            "action": event.action, "event_type": event.event_type[:100], "payload": payload,
            "status": "received" if event.action != "ignored" else "ignored"}


_last_mark = 0.0


def callbacks_mark_busy() -> None:
    """Tell this machine's task workers that callbacks are arriving (the marker file's mtime,
    touched at most every 0.1 s): their intake loops hold back meanwhile."""
    global _last_mark
    now = time.monotonic()
    if now - _last_mark < 0.1:
        return
    _last_mark = now
    try:
        os.utime(callbacks_marker(), None)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            callbacks_marker().touch()
    except OSError:
        pass


def callbacks_marker() -> Path:
    return Path(django_settings.DATA_DIR) / "callbacks.busy"


def replay_guard_prune() -> int:
    cutoff = timezone.now() - REPLAY_WINDOW
    deleted, _ = ReplayGuard.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


# Only these may be queued again: an archived event must never be reset (it would be archived
# a second time), and one being processed belongs to its worker's lease.
INTAKE_RETRYABLE = frozenset({InboxStatus.FAILED, InboxStatus.IGNORED, InboxStatus.RECEIVED})


@transaction.atomic
def intake_retry(*, event: InboxEvent, actor: User | None = None,
                 request: HttpRequest | None = None) -> None:
    """Queue a failed, ignored or still waiting event again, now; audited (`intake.retry`).
    Refused (409 `intake_not_retryable`) for an event being processed or already archived: the
    status is re-read under the row lock, so a worker finishing meanwhile wins."""
    current = (InboxEvent.objects.select_for_update().filter(pk=event.pk)
               .values_list("status", flat=True).first())
    if current not in INTAKE_RETRYABLE:
        raise Conflict("intake_not_retryable",
                       f"事件 #{event.pk} 正在处理或已归档，无需重试",
                       f"event #{event.pk} is being processed or already archived: no retry")
    InboxEvent.objects.filter(pk=event.pk).update(
        status=InboxStatus.RECEIVED, next_attempt_at=None, lease_until=None)
    audit_log(action="intake.retry", actor=actor, request=request, object_type="inbox_event",
              object_id=str(event.pk), detail={"status": current})
    # Nothing to enqueue: every task worker's intake loop claims received, due inbox rows.


SWEEP_OVERLAP = timedelta(minutes=30)


def connector_sweep(*, connector: Connector, actor: User | None = None,
                    request: HttpRequest | None = None, now: datetime | None = None) -> int:
    """Ask the platform for approvals finished since the last sweep (with overlap) and put any
    not yet archived or queued into the inbox; returns how many were queued, each enqueued
    after commit. The platform is asked outside the transaction (a slow OA must not hold the
    database's write lock). Audited (`connector.sweep`) when a person asks, success or failure,
    and when the periodic loop (`actor` None) queued something: an empty periodic sweep every
    few minutes changes nothing worth an event, and its failures go to the worker's log.
    Nothing to enqueue: every task worker's intake loop claims received inbox rows."""
    now = now or timezone.now()
    codes = list(Mapping.objects.filter(connector=connector)
                 .values_list("process_code", flat=True))
    instance_ids: list[str] = []
    if codes:
        since = (connector.last_sweep_at or now - timedelta(days=1)) - SWEEP_OVERLAP
        try:
            instance_ids = connector_build(connector).list_finished(since=since, until=now,
                                                                    process_codes=codes)
        except DomainError as exc:
            if actor is not None:
                audit_log(action="connector.sweep", actor=actor, request=request,
                          outcome="failure", object_type="connector",
                          object_id=str(connector.pk),
                          detail={"code": exc.code, "error": exc.en[:500]})
            raise
    with transaction.atomic():
        known = set(Record.objects.filter(source_system=connector.kind,
                                          external_id__in=instance_ids)
                    .values_list("external_id", flat=True))
        # An approval whose callback is already in the inbox (perhaps queued) isn't missed.
        known |= set(InboxEvent.objects.filter(connector=connector,
                                               instance_id__in=instance_ids)
                     .exclude(action__in=("ignored", "finished"))
                     .values_list("instance_id", flat=True))
        queued = []
        for instance_id in instance_ids:
            if instance_id in known:
                continue
            row, created = InboxEvent.objects.get_or_create(
                connector=connector, event_id=f"sweep:{instance_id}",
                defaults={"instance_id": instance_id, "action": "approved", "source": "sweep",
                          "event_type": "sweep", "payload": {}})
            if created:
                queued.append(row.pk)
        if codes:
            Connector.objects.filter(pk=connector.pk).update(last_sweep_at=now)
        if actor is not None or queued:
            audit_log(action="connector.sweep", actor=actor, request=request,
                      object_type="connector", object_id=str(connector.pk),
                      detail={"queued": len(queued)})
    return len(queued)


def connector_persist_updates(*, connector: Connector, oa: OAConnector) -> None:
    """Keep settings a connector learned while working (e.g. Weaver's RSA key pair and the
    OA's public key after registration), so every process reuses them."""
    updates = getattr(oa, "updated_settings", None)
    if updates:
        connector_update_settings(connector=connector, settings=dict(updates))
        updates.clear()
