"""Archive writes that no other service wraps audit themselves, in their transaction."""

from __future__ import annotations

import io
from datetime import date

import pytest

from kjda.archives.models import Fonds
from kjda.archives.services import fonds_ensure, record_revoke, record_set_asset_disposed
from kjda.audit.models import AuditEvent
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda_oasim.factories import metadata_json, pdf_bytes


def test_seeding_a_fonds_is_audited_once(db):
    fonds_ensure(code="A001", name="某某集团")
    fonds_ensure(code="A001", name="某某集团")  # exists: nothing written, nothing audited
    assert Fonds.objects.filter(code="A001").count() == 1
    event = AuditEvent.objects.get(action="fonds.create")
    assert (event.actor, event.object_type, event.object_id, event.outcome) \
        == (None, "fonds", "A001", "success")
    assert event.detail == {"name": "某某集团"}


@pytest.mark.django_db
def test_recording_an_asset_disposal_is_audited_with_its_actor(fonds, archivist):
    parsed = metadata_parse(metadata_json(category="固定资产卡片", document_no="FA-001",
                                          title="设备卡片"))
    card = IncomingFile(io.BytesIO(pdf_bytes(["固定资产卡片", "设备卡片"])), "card.pdf",
                        parsed.files[0] if parsed.files else FileMetaIn())
    record = record_ingest(metadata=parsed, files=[card], actor=archivist).record
    record_set_asset_disposed(record=record, disposed_on=date(2024, 5, 1), actor=archivist)
    event = AuditEvent.objects.get(action="record.change")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("archivist", "record", str(record.pk), "success")
    assert event.detail == {"asset_disposed_on": "2024-05-01",
                            "retention_expires_on": "2029-12-31"}


@pytest.mark.django_db
def test_revoking_a_record_is_audited_in_its_transaction_and_only_once(fonds, archivist):
    parsed = metadata_parse(metadata_json(category="原始凭证", document_no="BX-9", title="报销"))
    doc = IncomingFile(io.BytesIO(pdf_bytes(["报销单", "BX-9"])), "bx.pdf",
                       parsed.files[0] if parsed.files else FileMetaIn())
    record = record_ingest(metadata=parsed, files=[doc], actor=archivist).record
    record_revoke(record=record, reason="钉钉：审批通过后被撤销", agent_name="oa:dingtalk",
                  detail={"instance": "PI-9"})
    record_revoke(record=record, reason="again")  # already revoked: nothing written
    event = AuditEvent.objects.get(action="record.revoke")
    assert (event.actor, event.actor_name, event.object_id, event.outcome) \
        == (None, "oa:dingtalk", str(record.pk), "success")
    assert event.detail == {"reason": "钉钉：审批通过后被撤销", "instance": "PI-9"}
    record.refresh_from_db()
    assert record.status == "revoked"
