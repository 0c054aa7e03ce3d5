"""The verifier catches every kind of tampering and names where it happened."""

from __future__ import annotations

import pytest

from kjda.audit.chain import GENESIS_HASH, event_hash, event_mac
from kjda.audit.keys import audit_key_current
from kjda.audit.models import AuditChainHead, AuditEvent
from kjda.audit.selectors import audit_chain_verify
from kjda.audit.tests.conftest import raw_sql

pytestmark = pytest.mark.django_db


def valid_hash(row: dict) -> str:
    """A hash as only a holder of the audit key can make it: the tests using it show that the
    links and the head catch even such a forgery."""
    return event_mac(row, audit_key_current())


def test_empty_log_verifies():
    result = audit_chain_verify()
    assert result.ok and result.checked == 0 and result.first_bad_seq is None


def test_fresh_chain_verifies_across_batches(make_chain):
    events = make_chain(12)
    assert [e.seq for e in events] == list(range(1, 13))
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))

    result = audit_chain_verify(batch_size=5)

    assert result.ok, result.reason
    assert result.checked == 12
    assert "12" in result.reason


def test_altered_detail_is_caught_naming_the_event(make_chain):
    make_chain(20)
    raw_sql('UPDATE audit_auditevent SET detail = %s WHERE seq = %s', ['{"n": 999}', 12])

    result = audit_chain_verify(batch_size=5)

    assert not result.ok
    assert result.first_bad_seq == 12
    assert result.checked == 11
    assert "#12" in result.reason and "altered" in result.reason and "被修改" in result.reason


def test_altered_row_with_a_hash_recomputed_without_the_key_is_caught_at_itself(make_chain):
    make_chain(5)
    forged = AuditEvent.objects.values().get(seq=3)
    forged["actor_name"] = "someone-else"
    raw_sql("UPDATE audit_auditevent SET actor_name = %s, hash = %s WHERE seq = 3",
            ["someone-else", event_hash(forged)])

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 3
    assert "altered" in result.reason


def test_altered_row_with_recomputed_hash_is_caught_at_the_next_event(make_chain):
    make_chain(5)
    forged = AuditEvent.objects.values().get(seq=3)
    forged["actor_name"] = "someone-else"
    raw_sql("UPDATE audit_auditevent SET actor_name = %s, hash = %s WHERE seq = 3",
            ["someone-else", valid_hash(forged)])

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 4
    assert "prev_hash" in result.reason


def test_deleted_middle_event_is_caught(make_chain):
    make_chain(10)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = 5")

    result = audit_chain_verify(batch_size=3)

    assert not result.ok
    assert result.first_bad_seq == 5
    assert result.checked == 4
    assert "removed" in result.reason


def test_deleted_and_renumbered_events_are_caught(make_chain):
    make_chain(6)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = 3")
    for seq in (4, 5, 6):
        raw_sql("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq - 1, seq])
    raw_sql("UPDATE audit_auditchainhead SET last_seq = 5")

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 3


def test_forged_event_replacing_a_middle_one_is_caught(make_chain):
    make_chain(6)
    original = AuditEvent.objects.values().get(seq=3)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = 3")
    # A well-formed event at #3, chained correctly to #2, with its own valid hash.
    forged = {**original, "id": None, "detail": {"n": 3, "note": "nothing happened"}}
    forged["hash"] = valid_hash(forged)
    AuditEvent.objects.bulk_create([AuditEvent(**forged)])

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 4


def test_forged_event_appended_with_a_wrong_prev_hash_is_caught(make_chain):
    events = make_chain(4)
    forged = {**AuditEvent.objects.values().get(seq=4), "id": None, "seq": 5,
              "prev_hash": "f" * 64}
    forged["hash"] = valid_hash(forged)
    AuditEvent.objects.bulk_create([AuditEvent(**forged)])
    assert events[-1].hash != forged["prev_hash"]

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 5


def test_forged_event_appended_with_a_valid_hash_is_caught_by_the_head(make_chain):
    events = make_chain(4)
    forged = {**AuditEvent.objects.values().get(seq=4), "id": None, "seq": 5,
              "prev_hash": events[-1].hash, "action": "record.create"}
    forged["hash"] = valid_hash(forged)
    AuditEvent.objects.bulk_create([AuditEvent(**forged)])

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 5
    assert result.checked == 5
    assert "inserted" in result.reason


def test_deleted_newest_event_is_caught_by_the_head(make_chain):
    make_chain(7)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = 7")

    result = audit_chain_verify()

    assert not result.ok
    assert result.first_bad_seq == 7
    assert result.checked == 6
    assert "newest" in result.reason and "最新" in result.reason


def test_deleted_whole_log_is_caught_by_the_head(make_chain):
    make_chain(3)
    raw_sql("DELETE FROM audit_auditevent")

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 1


def test_replaced_newest_event_is_caught_by_the_head(make_chain):
    make_chain(3)
    newest = AuditEvent.objects.values().get(seq=3)
    newest["outcome"] = "denied"
    raw_sql("UPDATE audit_auditevent SET outcome = 'denied', hash = %s WHERE seq = 3",
            [valid_hash(newest)])

    result = audit_chain_verify()

    assert not result.ok and result.first_bad_seq == 3


def test_deleted_head_is_caught(make_chain):
    make_chain(2)
    raw_sql("DELETE FROM audit_auditchainhead")

    result = audit_chain_verify()

    assert not result.ok and "head" in result.reason
    assert AuditChainHead.objects.count() == 0
