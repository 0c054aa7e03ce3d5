"""Blob stores chosen by STORAGE_URL: file:///path (local folder) or s3://bucket/prefix?…"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .base import BlobBackend, PutResult
from .local import LocalBlobBackend

__all__ = ["BlobBackend", "LocalBlobBackend", "PutResult", "backend_from_url"]


def backend_from_url(url: str, *, spool_dir: Path) -> BlobBackend:
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file STORAGE_URL must be local: {url!r}")
        return LocalBlobBackend(Path(url2pathname(unquote(parts.path))))
    if parts.scheme == "s3":
        from .s3 import S3BlobBackend  # boto3 is the optional [s3] extra

        return S3BlobBackend(url, spool_dir=spool_dir)
    raise ValueError(f"unsupported STORAGE_URL scheme: {url!r}")
