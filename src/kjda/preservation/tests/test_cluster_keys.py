"""The keys every node shares (kjda.preservation.cluster): a node whose audit, connector or
secret key differs from the one the database was written with is told so before it starts."""

from __future__ import annotations

import shlex

import pytest
from cryptography.fernet import Fernet
from django.contrib.sessions.backends.db import SessionStore

from kjda.audit.services import audit_log
from kjda.connectors.services import connector_create
from kjda.preservation.cluster import node_keys_export, node_keys_from_files, node_keys_problems

pytestmark = pytest.mark.django_db


def _keys(problems) -> list[str]:
    return [p.key for p in problems]


def test_a_fresh_database_and_the_same_keys_have_no_problem(settings):
    assert node_keys_problems() == []
    audit_log(action="test.event", object_type="test", object_id="1")
    assert node_keys_problems() == []


def test_a_node_with_another_audit_key_is_refused_and_a_rotated_one_is_not(settings):
    audit_log(action="test.event", object_type="test", object_id="1")
    written_with = settings.KJDA_AUDIT_KEY
    settings.KJDA_AUDIT_KEY = "f" * 64  # a node that generated its own
    assert _keys(node_keys_problems()) == ["KJDA_AUDIT_KEY"]
    settings.KJDA_AUDIT_OLD_KEYS = [written_with]  # the old key kept after a rotation
    assert node_keys_problems() == []


def test_a_node_with_another_connector_key_is_refused(monkeypatch):
    monkeypatch.setenv("KJDA_CONNECTOR_KEY", Fernet.generate_key().decode())
    connector_create(kind="webhook", name="Webhook", settings={"signing_secret": "whsec_abc"})
    assert node_keys_problems() == []
    monkeypatch.setenv("KJDA_CONNECTOR_KEY", Fernet.generate_key().decode())
    assert _keys(node_keys_problems()) == ["KJDA_CONNECTOR_KEY"]


def test_a_node_with_another_secret_key_is_refused_and_a_rotated_one_is_not(settings):
    session = SessionStore()
    session["user"] = "someone"
    session.save()
    assert node_keys_problems() == []
    written_with = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert _keys(node_keys_problems()) == ["KJDA_SECRET_KEY"]
    settings.SECRET_KEY_FALLBACKS = [written_with]  # KJDA_SECRET_KEY_FALLBACKS: a rotation
    assert node_keys_problems() == []


def test_keys_export_prints_every_shared_key_as_an_environment_line(settings, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("KJDA_CONNECTOR_KEY", key)
    lines = dict(line.split("=", 1) for line in node_keys_export())
    assert shlex.split(lines["KJDA_SECRET_KEY"]) == [settings.SECRET_KEY]
    assert shlex.split(lines["KJDA_AUDIT_KEY"]) == [settings.KJDA_AUDIT_KEY]
    assert shlex.split(lines["KJDA_CONNECTOR_KEY"]) == [key]


def test_keys_not_in_the_environment_are_named_as_local(monkeypatch):
    monkeypatch.setenv("KJDA_SECRET_KEY", "from-the-environment")
    monkeypatch.delenv("KJDA_AUDIT_KEY", raising=False)
    monkeypatch.setenv("KJDA_CONNECTOR_KEY", "")
    assert node_keys_from_files() == ["KJDA_AUDIT_KEY", "KJDA_CONNECTOR_KEY"]
