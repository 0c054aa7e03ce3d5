"""Errors a user can see: a stable code, a message in Chinese and English, an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, zh: str, en: str, *, status: int | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.zh = zh
        self.en = en
        self.detail = detail or {}
        if status is not None:
            self.status = status

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
