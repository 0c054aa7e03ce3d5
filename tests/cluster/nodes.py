"""Helpers of the two-node test: a throw-away PostgreSQL database (with a SELECT-only role for
searches), a moto S3 server on loopback, and `kjda` processes started and SIGKILLed as whole
process groups. Everything is removed on the way out, failure or not."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
KJDA = str(Path(sys.executable).with_name("kjda"))
ADMIN_PASSWORD = "Cluster-Admin-Pass-2024"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the database ------------------------------------------------------------------------------

@dataclass
class Database:
    url: str  # the owner's (migrations, writes)
    readonly_url: str  # a role with SELECT only, read-only transactions
    readonly_role: str

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def rows(self, sql: str) -> list[tuple]:
        with self._connect() as conn:
            return list(conn.execute(sql).fetchall())

    def scalar(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    def grant_readonly(self) -> None:
        with self._connect() as conn:
            conn.execute(f"GRANT USAGE ON SCHEMA public TO {self.readonly_role}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {self.readonly_role}")


@contextlib.contextmanager
def cluster_database() -> Iterator[Database]:
    """A new database beside DATABASE_URL's (named after it), and a login role that may only
    read it; both dropped at the end."""
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"])
    suffix = secrets.token_hex(4)
    name = f"{base.path.lstrip('/') or 'kjda'}_cluster_{suffix}"[:63]
    role = f"kjda_ro_{suffix}"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
    url = urlunsplit(base._replace(path=f"/{name}"))
    host = base.hostname or "127.0.0.1"
    ro_url = urlunsplit(base._replace(netloc=f"{role}@{host}:{base.port or 5432}",
                                      path=f"/{name}"))
    try:
        yield Database(url=url, readonly_url=ro_url, readonly_role=role)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"DROP ROLE IF EXISTS {role}")


# --- the S3 store ------------------------------------------------------------------------------

_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
sys.stdin.read()
server.stop()
"""


@dataclass
class S3:
    endpoint: str

    def url(self, bucket: str) -> str:
        query = urlencode({"endpoint_url": self.endpoint, "region": "us-east-1"})
        return f"s3://{bucket}/blobs?{query}"


@contextlib.contextmanager
def moto_server() -> Iterator[S3]:
    """moto's S3 server in a child that exits when its stdin closes (even if pytest dies), with
    a primary and a replica bucket."""
    import boto3

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _MOTO_SERVER, str(port)],  # noqa: S603
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **AWS_ENV})
    try:
        wait_port(port, proc, 30)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        for bucket in ("kjda-primary", "kjda-replica"):
            client.create_bucket(Bucket=bucket)
        yield S3(endpoint)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


# --- the kjda processes ------------------------------------------------------------------------

@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    data_dir: Path
    log: Path
    port: int = 0


@dataclass
class Cluster:
    """`kjda` processes sharing one environment (database, stores, keys), each with its own
    empty KJDA_DATA_DIR. Every process leads its own process group: a kill takes a web node's
    server workers with it, and the exit kills whatever is left."""

    root: Path
    db: Database
    s3: S3
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        from cryptography.fernet import Fernet

        self.env = {
            **os.environ, **AWS_ENV,
            "DATABASE_URL": self.db.url,
            "KJDA_SEARCH_DATABASE_URL": self.db.readonly_url,
            "STORAGE_URL": self.s3.url("kjda-primary"),
            "KJDA_REPLICA_URL": self.s3.url("kjda-replica"),
            # the keys every node shares (kjda keys export prints them from a first node)
            "KJDA_SECRET_KEY": secrets.token_urlsafe(50),
            "KJDA_AUDIT_KEY": secrets.token_hex(32),
            "KJDA_CONNECTOR_KEY": Fernet.generate_key().decode(),
            "KJDA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KJDA_MFA_REQUIRED_ROLES": "none",
            "KJDA_INBOX_LEASE_SECONDS": "4",  # a dead worker's event is taken over soon
            "KJDA_LOG_LEVEL": "WARNING",
            "KJDA_INGEST_PARALLEL": "1",
        }
        self.env.pop("KJDA_TEST_DB_NAME", None)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            self.kill(node)
        if exc[0] is not None:  # the nodes' logs tell why
            for node in self.nodes:
                tail = node.log.read_text(errors="replace")[-3000:] if node.log.exists() else ""
                print(f"--- {node.name} (exit {node.proc.returncode}) ---\n{tail}",
                      file=sys.stderr)

    def _data_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path

    def _start(self, name: str, args: list[str], port: int = 0) -> Node:
        data_dir = self._data_dir(name)
        log = self.root / f"{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen([KJDA, *args], env={**self.env, "KJDA_DATA_DIR": str(data_dir),  # noqa: S603
                                                        "KJDA_PUBLIC_URL": f"http://127.0.0.1:{port}"},
                                    stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        node = Node(name, proc, data_dir, log, port)
        self.nodes.append(node)
        return node

    def start_web(self, name: str) -> Node:
        port = free_port()
        return self._start(name, ["serve", "--no-worker", "--port", str(port), "--workers", "1",
                                  "--threads", "4"], port)

    def start_worker(self, name: str) -> Node:
        return self._start(name, ["worker", "--intake-threads", "1", "--interval", "0.2"])

    def wait_ready(self, node: Node) -> None:
        wait_port(node.port, node.proc, 120)

    def kill(self, node: Node) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.proc.wait(timeout=10)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A one-off `kjda` command on a fresh data dir of its own."""
        data_dir = self._data_dir(f"run-{uuid.uuid4().hex[:8]}")
        try:
            return subprocess.run([KJDA, *args], env={**self.env, "KJDA_DATA_DIR": str(data_dir)},  # noqa: S603
                                  capture_output=True, text=True, timeout=timeout)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    def python(self, code: str) -> str:
        result = self.run_python(code)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def run_python(self, code: str) -> subprocess.CompletedProcess:
        data_dir = self._data_dir(f"py-{uuid.uuid4().hex[:8]}")
        env = {**self.env, "KJDA_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "kjda.settings"}
        return subprocess.run([sys.executable, "-c", code], env=env,  # noqa: S603
                              capture_output=True, text=True, timeout=300)

    def wait_until(self, check: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(f"not done within {timeout} s: {what}")

    def get_json(self, node: Node, path: str, token: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, (resp.status, body[:500])
            return json.loads(body)
        finally:
            conn.close()


_SETUP = """
import json
from kjda.cli import django_setup, site_prepare
django_setup()
site_prepare()
from django.contrib.auth import get_user_model
from kjda.accounts.services import token_issue
from kjda.connectors.services import connector_create, mapping_create
admin = get_user_model().objects.get(username="admin")
_, token = token_issue(user=admin, name="cluster-test")
connector = connector_create(kind="webhook", name="通用 Webhook（集群测试）",
                             settings={"signing_secret": SECRET})
mapping_create(connector=connector, process_code=PROCESS_CODE, scenario="reimbursement",
               category="原始凭证",
               fields={"amount": "报销金额", "summary": "报销事由", "invoices": "发票"})
print(json.dumps({"token": token, "callback_url": f"/oa/{connector.pk}/callback"}))
"""


def setup_site(cluster: Cluster, *, webhook_secret: str, process_code: str) -> dict[str, str]:
    """Migrate and seed (as `kjda serve` does on its first start), then an API token of the
    admin (an archivist) and a signed-webhook connector with its mapping; the read-only role
    may then read every table."""
    code = (f"SECRET = {webhook_secret!r}\nPROCESS_CODE = {process_code!r}\n" + _SETUP)
    out = cluster.python(code)
    cluster.db.grant_readonly()
    return json.loads(out.strip().splitlines()[-1])


# --- the clients -------------------------------------------------------------------------------

def multipart(metadata: dict, files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n".encode()
             + json.dumps(metadata, ensure_ascii=False).encode() + b"\r\n"]
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                     f"filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n"
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(ports: list[int], n: int, path: str, body: bytes, headers: dict[str, str],
         retries: Counter, attempts: int = 8) -> int:
    """POST to node n % 2 as a client behind a load balancer would: a refused or cut
    connection (a dead node) is retried, the same bytes, on the next node."""
    for attempt in range(attempts):
        port = ports[(n + attempt) % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status in (502, 503, 504):
                raise ConnectionError(f"HTTP {resp.status}")
            return resp.status
        except (OSError, http.client.HTTPException):
            retries[path.split("/")[1]] += 1
            time.sleep(0.2)
        finally:
            conn.close()
    raise AssertionError(f"POST {path} failed on every node")
