"""Connector secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key kept outside the
database (KJDA_CONNECTOR_KEY, or a key file generated in the data dir on first use)."""

from __future__ import annotations

import json
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from kjda.errors import DomainError


@lru_cache(maxsize=4)
def _fernet(data_dir: str, env_key: str) -> Fernet:
    if env_key:
        return Fernet(env_key.encode())
    path = os.path.join(data_dir, "connector.key")
    if not os.path.exists(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
    with open(path, "rb") as fh:
        return Fernet(fh.read().strip())


def _cipher() -> Fernet:
    return _fernet(str(settings.DATA_DIR), os.environ.get("KJDA_CONNECTOR_KEY", ""))


def connector_key_text() -> str:
    """The key itself (for `kjda backup`, which keeps it encrypted): '' when none exists yet."""
    if env_key := os.environ.get("KJDA_CONNECTOR_KEY", ""):
        return env_key
    path = os.path.join(str(settings.DATA_DIR), "connector.key")
    if not os.path.exists(path):
        return ""
    with open(path) as fh:
        return fh.read().strip()


def connector_key_ensure() -> str:
    """The key, generated now (in the data dir) if there is none yet: `kjda keys export`
    hands it to the other nodes before any of them makes its own."""
    _cipher()
    return connector_key_text()


def connector_key_known_to_database() -> bool:
    """Whether this process can read the connectors' secrets the database holds (True when
    there are none): another node's connector key would make every OA call fail."""
    from kjda.connectors.models import Connector

    token = (Connector.objects.exclude(secrets_encrypted="").order_by("-created_at")
             .values_list("secrets_encrypted", flat=True).first())
    if not token:
        return True
    try:
        _cipher().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def secrets_encrypt(values: dict[str, str]) -> str:
    return _cipher().encrypt(json.dumps(values, ensure_ascii=False).encode()).decode()


def secrets_decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_cipher().decrypt(token.encode()))
    except InvalidToken as exc:
        raise DomainError("connector_secrets_unreadable",
                          "连接器密钥无法解密（KJDA_CONNECTOR_KEY 或 connector.key 已变更）",
                          "connector secrets can't be decrypted (the connector key changed)",
                          status=500) from exc
