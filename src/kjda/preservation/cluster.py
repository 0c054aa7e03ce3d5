"""More than one machine (issue 19 item 7): the keys every `kjda` process must share, and the
check each node runs at start that its keys are the ones the database was written with.

A node keeps nothing another node needs, except keys: the secret key (sessions, CSRF,
watermarks), the audit key (the chain's HMAC) and the connector key (OA credentials at rest).
On one machine they are generated into KJDA_DATA_DIR on first start. With several nodes they
must come from the environment, the same on each: a node that generated its own audit key
would write events no other node can verify, its own connector key could not read the OA
credentials, its own secret key would log users out whenever the load balancer switched.
`kjda serve` and `kjda worker` therefore refuse to start when their key does not match what the
database holds, and warn when a server database is used with keys from local files.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.utils import timezone

from kjda.audit.keys import audit_key_known_to_database
from kjda.connectors.secrets import connector_key_ensure, connector_key_known_to_database

# The environment variables a node reads its shared keys from (settings.py, connectors/secrets.py).
SHARED_KEYS = ("KJDA_SECRET_KEY", "KJDA_AUDIT_KEY", "KJDA_CONNECTOR_KEY")


@dataclass(frozen=True)
class KeyProblem:
    key: str
    message: str  # Chinese / English


def node_keys_export() -> list[str]:
    """`NAME=value` lines of the keys this node uses (generating the connector key if it has
    none yet), for the environment of every other node. Secret: print, copy, don't log."""
    values = {
        "KJDA_SECRET_KEY": settings.SECRET_KEY,
        "KJDA_AUDIT_KEY": settings.KJDA_AUDIT_KEY,
        "KJDA_AUDIT_OLD_KEYS": ",".join(settings.KJDA_AUDIT_OLD_KEYS),
        "KJDA_CONNECTOR_KEY": connector_key_ensure(),
        "KJDA_WATERMARK_KEY": settings.KJDA_WATERMARK_KEY,
    }
    return [f"{name}={shlex.quote(value)}" for name, value in values.items() if value]


def node_keys_from_files() -> list[str]:
    """The shared keys this node reads from files in its data dir (not from the environment)."""
    return [name for name in SHARED_KEYS if not os.environ.get(name, "").strip()]


def node_keys_problems() -> list[KeyProblem]:
    """Keys of this node that differ from the ones the database's rows were written with."""
    problems = []
    if not audit_key_known_to_database():
        problems.append(KeyProblem("KJDA_AUDIT_KEY", (
            "审计日志最新事件的密钥不是本节点的 KJDA_AUDIT_KEY / the newest audit event was "
            "written with a key this node does not have (KJDA_AUDIT_KEY)")))
    if not connector_key_known_to_database():
        problems.append(KeyProblem("KJDA_CONNECTOR_KEY", (
            "本节点的 KJDA_CONNECTOR_KEY 无法解密数据库中的连接器密钥 / this node's "
            "KJDA_CONNECTOR_KEY can't decrypt the connectors' secrets in the database")))
    if not _secret_key_signed_sessions():
        problems.append(KeyProblem("KJDA_SECRET_KEY", (
            "当前会话不是用本节点的 KJDA_SECRET_KEY 签名的 / the current sessions were signed "
            "with another KJDA_SECRET_KEY (a deliberate rotation: list the old key in "
            "KJDA_SECRET_KEY_FALLBACKS)")))
    return problems


def node_uses_server_database() -> bool:
    """PostgreSQL (or any server database): other nodes may share it; SQLite is one machine."""
    return connection.vendor != "sqlite"


def _secret_key_signed_sessions() -> bool:
    """Whether the newest live session verifies with this node's secret key (True: none)."""
    data = (Session.objects.filter(expire_date__gt=timezone.now()).order_by("-expire_date")
            .values_list("session_data", flat=True).first())
    if data is None:
        return True
    store = SessionStore()
    try:
        signing.loads(data, salt=store.key_salt, serializer=store.serializer)
    except signing.BadSignature:
        return False
    return True
