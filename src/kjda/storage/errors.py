"""Errors a caller of the storage app can see: a stable code and a Chinese + English message."""

from __future__ import annotations

from kjda.errors import DomainError


class StorageError(DomainError):
    """Raised by the storage services. `message` is "中文 / English"; `code` is stable.

    A DomainError, so the API and UI render it like every other user-visible error.
    """

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        zh, _, en = message.partition(" / ")
        super().__init__(code, zh, en or zh, status=status)
        self.found: dict[str, str | int] = {}  # what a failed check found: logs and audit only


def file_too_large(limit: int) -> StorageError:
    return StorageError(
        "file_too_large",
        f"文件超过大小上限（{limit} 字节） / File exceeds the limit of {limit} bytes",
        status=413,
    )


def file_empty() -> StorageError:
    return StorageError("file_empty", "文件为空 / The file is empty")


def blob_missing(sha256: str) -> StorageError:
    return StorageError(
        "blob_missing", f"存储中找不到文件 {sha256} / Blob {sha256} is not in the store", status=404
    )


def blob_corrupt(sha256: str, detail: str) -> StorageError:
    return StorageError(
        "blob_corrupt",
        f"文件 {sha256} 校验失败 / Blob {sha256} failed verification: {detail}",
        status=500,
    )


def fixity_failed(sha256: str) -> StorageError:
    # What differed stays in the log and the audit event, not in the answer.
    return StorageError(
        "fixity_failed",
        f"文件 {sha256} 校验失败，已停止传送 / Blob {sha256} failed its fixity check; "
        "the transfer was stopped",
        status=500,
    )


def invalid_sha256(value: str) -> StorageError:
    shown = value[:80]
    return StorageError(
        "invalid_sha256", f"不是有效的 SHA-256 值 / Not a SHA-256 hex digest: {shown!r}"
    )


def storage_unavailable() -> StorageError:
    # The cause (endpoint, bucket, SDK message) stays in the exception chain and the logs.
    return StorageError(
        "storage_unavailable", "存储服务暂不可用 / The blob store is unavailable", status=503
    )
