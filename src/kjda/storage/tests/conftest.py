"""Shared fixtures: a throw-away local blob root, and a real moto S3 server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from kjda.storage import services

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Keep a developer's own ~/.aws profile out of the tests.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    """Point STORAGE_URL at a fresh local folder for this test."""
    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    return root


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    # Backends are cached per URL; a test must not see another test's cached client.
    services._backend_for.cache_clear()
    yield
    services._backend_for.cache_clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


# moto's server mode, run by a child that exits when its stdin closes: if pytest dies (even
# by a signal or a crash), the pipe closes and the server does not outlive it.
_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port: real HTTP calls."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv, our own interpreter)
            [sys.executable, "-c", _MOTO_SERVER, str(port)],
            stdin=subprocess.PIPE,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **AWS_ENV},
        )
        try:
            _wait_for_port(port, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("KJDA_S3_LOCK_DAYS", raising=False)


@pytest.fixture
def s3_client(moto_endpoint: str, aws_env: None) -> Iterator[Any]:
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    client.close()  # its pooled connection to the moto server


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    name = f"kjda-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_lock_bucket(s3_client: Any) -> str:
    name = f"kjda-lock-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def s3_url(moto_endpoint: str) -> Any:
    """Build an s3:// STORAGE_URL for a bucket on the moto server."""

    def build(bucket: str, prefix: str = "blobs", **params: str) -> str:
        query = urlencode({"endpoint_url": moto_endpoint, "region": "us-east-1", **params})
        return f"s3://{bucket}/{prefix}?{query}"

    return build
