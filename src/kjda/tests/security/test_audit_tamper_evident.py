"""Issue 15 item 6: the audit log can't be shortened or rewritten without `kjda audit verify`
noticing. Events are made through the HTTP stack; the attacker then writes the database
directly (SQL, as someone with database access but without the audit key would)."""

from __future__ import annotations

import os
import stat

import pytest

from kjda.audit.chain import GENESIS_HASH, event_hash
from kjda.audit.models import AuditChainHead, AuditEvent
from kjda.audit.tests.conftest import raw_sql
from kjda.cli import main

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    """A blob store of this test's own: checkpoints must not leak into other tests."""
    settings.STORAGE_URL = (tmp_path / "blobs").as_uri()
    return tmp_path / "blobs"


def _events(api, n: int) -> None:
    for i in range(n):  # each search is an audit event (record.search)
        assert api.get("/api/v1/records", q=f"差旅 {i}").status_code == 200


def _head() -> tuple[int, str]:
    head = AuditChainHead.objects.get()
    return head.last_seq, head.last_hash


def _verify(capsys) -> tuple[int, str]:
    code = main(["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _checkpoint(capsys) -> int:
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    return _head()[0]


def _rewrite_from(seq: int, change: dict) -> None:
    """Edit event #seq and recompute the chain from it to the head, as an attacker without the
    key can: plain SHA-256 (the unkeyed hash), prev_hash links and the head all made to agree."""
    prev = (AuditEvent.objects.values_list("hash", flat=True).get(seq=seq - 1)
            if seq > 1 else GENESIS_HASH)
    for i, row in enumerate(AuditEvent.objects.filter(seq__gte=seq).order_by("seq").values()):
        if i == 0:
            row.update(change)
        row["prev_hash"] = prev
        row["hash"] = event_hash(row)
        raw_sql("UPDATE audit_auditevent SET object_id = %s, key_id = %s, prev_hash = %s, "
                "hash = %s WHERE seq = %s",
                [row["object_id"], row["key_id"], row["prev_hash"], row["hash"], row["seq"]])
        prev = row["hash"]
    raw_sql("UPDATE audit_auditchainhead SET last_hash = %s", [prev])


def _truncate_to(seq: int) -> None:
    """Delete every event after #seq and move the head back to #seq."""
    last_hash = AuditEvent.objects.values_list("hash", flat=True).get(seq=seq)
    raw_sql("DELETE FROM audit_auditevent WHERE seq > %s", [seq])
    raw_sql("UPDATE audit_auditchainhead SET last_seq = %s, last_hash = %s", [seq, last_hash])


def test_clean_log_verifies_and_reports_checkpoint_coverage(api, store, capsys):
    _events(api, 4)
    covered = _checkpoint(capsys)
    _events(api, 3)
    total = _head()[0]

    code, out = _verify(capsys)

    assert code == 0, out
    assert f"{total} events verified" in out
    assert f"{covered} covered by signed checkpoint {covered}" in out
    assert f"{total - covered} after it" in out
    names = os.listdir(store / "checkpoints")
    assert names == [f"audit-{covered:015d}.json"]
    assert stat.S_IMODE((store / "checkpoints" / names[0]).stat().st_mode) == 0o444


def test_edited_event_with_the_chain_recomputed_is_named(api, store, capsys):
    _events(api, 5)
    _checkpoint(capsys)
    _events(api, 2)
    _rewrite_from(3, {"object_id": "nothing happened"})

    code, out = _verify(capsys)

    assert code == 1
    assert "first bad event #3" in out and "altered" in out


def test_edited_event_made_unkeyed_to_pass_is_named(api, store, capsys):
    _events(api, 5)
    _rewrite_from(4, {"object_id": "nothing happened", "key_id": None})

    code, out = _verify(capsys)

    assert code == 1
    assert "first bad event #4" in out and "unkeyed" in out


def test_whole_log_rewritten_unkeyed_is_caught_by_the_checkpoint(api, store, capsys):
    _events(api, 4)
    _checkpoint(capsys)
    # every event made to look written before the key, the first one edited
    raw_sql("UPDATE audit_auditevent SET key_id = NULL")
    _rewrite_from(1, {"object_id": "nothing happened", "key_id": None})

    code, out = _verify(capsys)

    assert code == 1
    assert "first bad event #1" in out and "unkeyed" in out


def test_newest_events_truncated_with_the_head_are_caught_by_the_checkpoint(
        api, store, capsys):
    _events(api, 6)
    covered = _checkpoint(capsys)
    _events(api, 2)
    _truncate_to(3)
    assert main(["audit", "verify"]) == 1  # (and without the checkpoint it would pass:)
    capsys.readouterr()

    code, out = _verify(capsys)

    assert code == 1
    assert f"truncated below checkpoint {covered}" in out
    assert "first bad event #4" in out


def test_truncated_log_that_grew_again_is_not_blessed_by_the_next_checkpoint(
        api, store, capsys):
    from kjda.audit.checkpoints import AuditTampered, audit_checkpoint_write

    _events(api, 5)
    covered = _checkpoint(capsys)
    _truncate_to(2)
    _events(api, covered + 3)  # the server keeps logging, past the old checkpoint's number

    with pytest.raises(AuditTampered):
        audit_checkpoint_write()

    assert AuditEvent.objects.filter(action="audit.checkpoint_refused").exists()
    code, out = _verify(capsys)
    assert code == 1 and f"#{covered}" in out and "checkpoint" in out
    assert main(["audit", "checkpoint"]) == 1


def test_tampered_checkpoint_is_detected(api, store, capsys):
    _events(api, 4)
    covered = _checkpoint(capsys)
    path = store / "checkpoints" / f"audit-{covered:015d}.json"
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace(f'"count":{covered}', f'"count":{covered + 50}'))

    code, out = _verify(capsys)

    assert code == 1 and "bad signature" in out


def test_forged_newer_checkpoint_is_detected(api, store, capsys):
    _events(api, 4)
    covered = _checkpoint(capsys)
    original = (store / "checkpoints" / f"audit-{covered:015d}.json").read_text()
    forged = original.replace(f'"seq":{covered}', '"seq":2').replace(
        f'"count":{covered}', '"count":2')
    (store / "checkpoints" / "audit-999999999999999.json").write_text(forged)

    code, out = _verify(capsys)

    assert code == 1 and "invalid" in out


def test_legacy_unkeyed_prefix_then_keyed_events_verify(api, store, capsys):
    """A deployment upgraded from the unkeyed chain: its old events are not rewritten."""
    _events(api, 3)
    legacy = _head()[0]
    for seq in range(1, legacy + 1):
        raw_sql("UPDATE audit_auditevent SET key_id = NULL WHERE seq = %s", [seq])
    _rewrite_from(1, {"key_id": None})  # the plain SHA-256 chain the old version wrote
    _events(api, 2)

    code, out = _verify(capsys)
    assert code == 0, out
    assert f"({legacy} written before the chain was keyed)" in out
    _checkpoint(capsys)
    _events(api, 1)
    assert _verify(capsys)[0] == 0
    # and after the checkpoint, a keyed event can't be passed off as an old unkeyed one
    _rewrite_from(legacy + 2, {"object_id": "nothing happened", "key_id": None})
    code, out = _verify(capsys)
    assert code == 1 and f"first bad event #{legacy + 2}" in out


def test_key_rotation_keeps_old_events_verifiable(api, store, settings, capsys):
    old_key = settings.KJDA_AUDIT_KEY
    _events(api, 3)
    _checkpoint(capsys)
    settings.KJDA_AUDIT_KEY = "a-new-audit-key-" + "0" * 48
    settings.KJDA_AUDIT_OLD_KEYS = [old_key]
    _events(api, 2)
    _checkpoint(capsys)

    assert _verify(capsys)[0] == 0
    keys = set(AuditEvent.objects.values_list("key_id", flat=True))
    assert len(keys) == 2

    settings.KJDA_AUDIT_OLD_KEYS = []  # the retired key lost: its events can't be vouched for
    code, out = _verify(capsys)
    assert code == 1 and "not configured" in out


def test_periodic_loop_writes_a_checkpoint_when_there_are_new_events(api, store, settings,
                                                                     monkeypatch):
    from kjda.audit import checkpoints
    from kjda.connectors.tasks import periodic_once

    settings.KJDA_AUDIT_CHECKPOINT_MINUTES = 10
    monkeypatch.setattr(checkpoints, "_last_try", 0.0)
    _events(api, 2)

    periodic_once()

    seq = _head()[0]
    assert os.listdir(store / "checkpoints") == [f"audit-{seq:015d}.json"]
    _events(api, 1)
    periodic_once()  # within the interval: no new checkpoint yet
    assert len(os.listdir(store / "checkpoints")) == 1


def test_rotate_key_puts_a_new_key_first_and_keeps_the_old_one(api, store, settings, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.delenv("KJDA_AUDIT_KEY", raising=False)
    settings.DATA_DIR = tmp_path
    old_key = settings.KJDA_AUDIT_KEY
    (tmp_path / "audit_key").write_text(old_key + "\n")
    _events(api, 2)
    _checkpoint(capsys)

    assert main(["audit", "rotate-key"]) == 0
    capsys.readouterr()

    lines = (tmp_path / "audit_key").read_text().split()
    assert len(lines) == 2 and lines[1] == old_key and lines[0] != old_key
    assert stat.S_IMODE((tmp_path / "audit_key").stat().st_mode) == 0o600
    # the next start reads the file: new key first, the old one kept for verifying
    settings.KJDA_AUDIT_KEY, settings.KJDA_AUDIT_OLD_KEYS = lines[0], lines[1:]
    _events(api, 2)
    _checkpoint(capsys)
    code, out = _verify(capsys)
    assert code == 0, out
