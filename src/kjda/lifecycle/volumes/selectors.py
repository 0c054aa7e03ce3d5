"""Reads of volumes, scoped: a volume is seen by whoever reads records of its fonds by fonds
(archivist, accountant, auditor in their fonds); its items are listed through the record scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import Actor, actor_can, actor_roles, record_scope_parts
from kjda.archives.models import Record, Volume, VolumeStatus
from kjda.archives.numbering import volume_template_default
from kjda.archives.selectors import fonds_list, record_list
from kjda.errors import NotFound
from kjda.lifecycle.volumes.models import (
    VolumeDescription,
    VolumeDocument,
    VolumeNumbering,
    VolumeRule,
)
from kjda.storage.services import blob_read_verified


@dataclass
class VolumeFilters:
    fonds: str | None = None
    fiscal_year: int | None = None
    category: str | None = None
    status: str | None = None


def _fonds_q(actor: Actor) -> Q | None:
    """Volumes of the fonds the actor reads by fonds (not an employee's own records)."""
    parts = record_scope_parts(actor=actor)
    if not parts:
        return None
    codes: set[str] = set()
    for part in parts:
        if part.applicants is not None or part.record_ids is not None:
            continue  # an employee's own records or records lent: not their volumes
        if part.fonds is None:
            return Q()
        codes.update(part.fonds)
    return Q(fonds__code__in=sorted(codes)) if codes else None


def volume_list(*, actor: Actor, filters: VolumeFilters | None = None) -> QuerySet[Volume]:
    scope = _fonds_q(actor)
    if scope is None:
        return Volume.objects.none()
    f = filters or VolumeFilters()
    qs = Volume.objects.filter(scope).select_related("fonds", "category")
    if f.fonds:
        qs = qs.filter(fonds__code=f.fonds)
    if f.fiscal_year:
        qs = qs.filter(fiscal_year=f.fiscal_year)
    if f.category:
        qs = qs.filter(category__name=f.category)
    if f.status:
        qs = qs.filter(status=f.status)
    return qs.annotate(items=Count("records")).order_by("-fiscal_year", "class_code",
                                                        "status", "volume_no", "title", "pk")


def volume_detail(*, actor: Actor, volume_id: int) -> Volume:
    """A volume in the actor's scope, or NotFound (404)."""
    scope = _fonds_q(actor)
    volume = (Volume.objects.filter(scope).select_related("fonds", "category")
              .filter(pk=volume_id).first() if scope is not None else None)
    if volume is None:
        raise NotFound("volume_not_found", f"案卷 {volume_id} 不存在", f"volume {volume_id} not found")
    return volume


def volume_description(*, volume: Volume) -> VolumeDescription | None:
    return VolumeDescription.objects.filter(volume=volume).first()


def volume_items(*, actor: Actor, volume: Volume) -> QuerySet[Record]:
    """The volume's items the actor may read, in volume order (件号, else date and number)."""
    return record_list(actor=actor).filter(volume=volume).order_by(
        "item_no", "date", "document_no", "id")


def volume_move_targets(*, actor: Actor, volume: Volume) -> QuerySet[Volume]:
    """Other open volumes of the same class, where an item of `volume` may be moved."""
    return volume_list(actor=actor).filter(
        fonds=volume.fonds, class_code=volume.class_code, status=VolumeStatus.OPEN).exclude(
        pk=volume.pk)


def volume_documents(*, volume: Volume) -> dict[str, VolumeDocument]:
    return {d.kind: d for d in VolumeDocument.objects.filter(volume=volume)}


def volume_document_bytes(*, actor: Actor, volume_id: int, kind: str) -> tuple[Volume, Iterator[bytes]]:
    """A closed volume's 卷内目录 / 备考表, read back verified; NotFound before close."""
    volume = volume_detail(actor=actor, volume_id=volume_id)
    doc = VolumeDocument.objects.filter(volume=volume, kind=kind).select_related("blob").first()
    if doc is None:
        raise NotFound("volume_document_missing", "案卷尚未封卷，没有卷内目录和备考表",
                       "the volume has no 卷内目录/备考表 until it is closed")
    return volume, blob_read_verified(sha256=doc.blob.sha256, sm3=doc.blob.sm3,
                                      size=doc.blob.size)


def volume_rule_list(*, actor: Actor) -> QuerySet[VolumeRule]:
    return VolumeRule.objects.filter(fonds__in=fonds_list(actor=actor)).select_related(
        "fonds", "category").order_by("fonds__code", "category__form_no")


def volume_rule_get(*, actor: Actor, rule_id: int) -> VolumeRule:
    rule = volume_rule_list(actor=actor).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("volume_rule_not_found", "组卷规则不存在", "volume rule not found")
    return rule


def volume_templates(*, actor: Actor) -> list[dict[str, Any]]:
    """Each fonds of the actor with its 案卷档号 format (custom or the default)."""
    custom = dict(VolumeNumbering.objects.values_list("fonds_id", "template"))
    return [{"fonds": f, "template": custom.get(f.pk) or volume_template_default(fonds=f),
             "custom": f.pk in custom} for f in fonds_list(actor=actor)]


def volume_of_record(*, record: Record) -> dict[str, Any] | None:
    """The volume a record is in, for the record API and page."""
    if record.volume_id is None:
        return None
    volume = Volume.objects.filter(pk=record.volume_id).only("id", "archive_no", "status",
                                                             "title").first()
    if volume is None:
        return None
    return {"id": volume.pk, "archive_no": volume.archive_no, "status": volume.status,
            "title": volume.title}


def volumes_to_close(*, actor: Actor, before_year: int) -> QuerySet[Volume]:
    """Open volumes of years that have ended, for those who close volumes."""
    if not actor_can(actor, Perm.VOLUME_CLOSE):
        return Volume.objects.none()
    return volume_list(actor=actor, filters=VolumeFilters(status=VolumeStatus.OPEN)).filter(
        fiscal_year__lt=before_year)


def actor_manages_volumes(actor: Actor) -> bool:
    return bool(actor_roles(actor) & {Role.ARCHIVIST, Role.ACCOUNTANT})
