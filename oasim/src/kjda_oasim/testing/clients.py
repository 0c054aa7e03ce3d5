"""A client that posts real multipart requests to the API with a bearer token."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


class ApiClient:
    def __init__(self, token: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params):
        return self.client.get(path, params, headers=self.headers)

    def post_record(self, metadata: str | None, files: list[tuple[str, bytes]] | None = None):
        data: dict = {}
        if metadata is not None:
            data["metadata"] = metadata
        if files:
            data["files"] = [SimpleUploadedFile(name, content) for name, content in files]
        return self.client.post("/api/v1/records", data, headers=self.headers)
