"""Errors a user can see: a stable code, a message in Chinese and English, an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    # True when the same request may succeed if simply asked again (a race with a concurrent
    # writer): background work retries it instead of failing for good.
    retryable = False

    def __init__(self, code: str, zh: str, en: str, *, status: int | None = None,
                 detail: dict[str, Any] | None = None, retryable: bool | None = None) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.zh = zh
        self.en = en
        self.detail = detail or {}
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message, "message_zh": self.zh,
                "message_en": self.en}
        if self.detail:
            data["detail"] = self.detail
        return data


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403
