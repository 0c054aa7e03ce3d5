"""Issue 15, item 4: no server-side request forgery. Real sockets on loopback: what a
callback's attachment URL, a redirect, a notify URL or an OpenID provider's address may reach,
and what a user learns when it can't."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.test import Client

from kjda.connectors import signing
from kjda.connectors.base import ConnectorError
from kjda.connectors.models import Connector, InboxEvent
from kjda.connectors.processing import inbox_due, inbox_process
from kjda.connectors.webhook import WebhookConnector
from kjda.outbound import (
    OUTBOUND_ERRORS,
    OutboundRefused,
    guarded_client,
    guarded_requests_session,
)

pytestmark = pytest.mark.django_db
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
INTERNAL = b'{"internal": "answer only this machine should see"}'


class Site:
    """A tiny HTTP server on loopback; `answer(handler)` writes the response."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None],
                 host: str = "127.0.0.1") -> None:
        self.hits: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                site.hits.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        server_class = ThreadingHTTPServer
        if ":" in host:
            server_class = type("V6Server", (ThreadingHTTPServer,),
                                {"address_family": socket.AF_INET6})
        self.server = server_class((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(body: bytes = INTERNAL, ctype: str = "application/json"):
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return answer


def redirect(to: str):
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


@pytest.fixture
def sites():
    started: list[Site] = []

    def make(answer, host: str = "127.0.0.1") -> Site:
        site = Site(answer, host)
        started.append(site)
        return site

    yield make
    for site in started:
        site.stop()


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(WebhookConnector, "retries", 0)
    monkeypatch.setattr(WebhookConnector, "backoff", 0.0)
    monkeypatch.setattr(WebhookConnector, "timeout", 2.0)


# --- through the whole stack: a signed webhook callback, then the intake ------------------------

@pytest.fixture
def webhook(fonds):
    from kjda.connectors.services import connector_create, mapping_create

    connector = connector_create(kind="webhook", name="ERP", settings={"signing_secret": SECRET})
    mapping_create(connector=connector, process_code="PROC-REIMB-001", scenario="reimbursement",
                   category="原始凭证", fields={"amount": "报销金额", "summary": "报销事由",
                                               "invoices": "发票"})
    return connector


def deliver(connector: Connector, url: str, n: int = 1) -> None:
    body = json.dumps({"type": "approval.approved", "id": f"evt-{n}", "instance": {
        "instance_id": f"BX-{n}", "process_code": "PROC-REIMB-001", "title": "差旅费报销",
        "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
        "finished_at": "2024-03-16 10:30:00",
        "form": [{"id": "reason", "name": "报销事由", "value": "上海出差"},
                 {"id": "amount", "name": "报销金额", "value": "100.00", "kind": "money"},
                 {"id": "invoices", "name": "发票", "value": ["f1"], "kind": "attachment"}],
        "attachments": [{"file_id": "f1", "filename": "发票.pdf", "url": url}]}},
        ensure_ascii=False).encode()
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v
               for k, v in signing.signed_headers(SECRET, body).items()}
    answer = Client().post(f"/oa/{connector.pk}/callback", body,
                           content_type="application/json", **headers)
    assert answer.status_code == 200, answer.content


def process_all() -> None:
    for pk in inbox_due():
        inbox_process(event_pk=pk)


def archived_anything() -> bool:
    from kjda.archives.models import Record, RecordFile

    return Record.objects.exists() or RecordFile.objects.exists()


def test_webhook_attachment_on_loopback_is_refused_and_nothing_archived(
        settings, sites, webhook, fast):
    settings.KJDA_OUTBOUND_ALLOW = ""
    internal = sites(ok())
    deliver(webhook, f"{internal.url}/api/v1/records")
    process_all()
    event = InboxEvent.objects.get()
    assert not archived_anything() and internal.hits == []
    assert "不可达" in event.last_error and "unreachable" in event.last_error
    assert "internal" not in event.last_error and "127.0.0.1" not in event.last_error


def test_allowed_host_redirecting_inside_is_refused_at_the_hop(settings, sites, webhook, fast,
                                                               live_server):
    """The issue's probe: an attachment URL redirecting to KJDA's own API on loopback."""
    internal = sites(ok())
    outside = sites(redirect(f"{internal.url}/api/v1/records"))
    settings.KJDA_OUTBOUND_ALLOW = f"127.0.0.1:{outside.port}"  # the "public" file server only
    deliver(webhook, f"{outside.url}/files/f1", n=1)
    deliver(webhook, f"{outside.url}/files/f2", n=2)
    outside_to_kjda = sites(redirect(f"{live_server.url}/api/v1/records"))
    settings.KJDA_OUTBOUND_ALLOW = f"127.0.0.1:{outside.port},127.0.0.1:{outside_to_kjda.port}"
    deliver(webhook, f"{outside_to_kjda.url}/files/f3", n=3)
    process_all()
    assert len(outside.hits) == 2 and len(outside_to_kjda.hits) == 1  # asked, and stopped there
    assert internal.hits == []
    assert not archived_anything()
    errors = set(InboxEvent.objects.values_list("last_error", flat=True))
    assert len(errors) == 1 and "unreachable" in errors.pop()


def test_public_looking_name_resolving_to_loopback_is_refused(settings, sites, monkeypatch):
    settings.KJDA_OUTBOUND_ALLOW = ""
    internal = sites(ok())
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "files.erp-vendor.example":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with guarded_client() as client, pytest.raises(OutboundRefused):
        client.get(f"http://files.erp-vendor.example:{internal.port}/f")
    assert internal.hits == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/", "http://[::ffff:7f00:1]:{port}/",
    "http://0.0.0.0:{port}/", "http://2130706433:{port}/", "http://0177.0.0.1:{port}/",
    "http://0x7f.0.0.1:{port}/", "http://127.1:{port}/", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/", "http://[fd00::1]/", "http://10.0.0.1/", "http://100.64.0.1/",
    "http://[64:ff9b::7f00:1]:{port}/", "http://224.0.0.1/",
])
def test_loopback_private_and_metadata_forms_are_refused(settings, sites, url):
    settings.KJDA_OUTBOUND_ALLOW = ""
    internal = sites(ok(), host="0.0.0.0")  # noqa: S104 - listens on every IPv4 address
    with guarded_client(timeout=2) as client, pytest.raises(OUTBOUND_ERRORS):
        client.get(url.format(port=internal.port))
    assert internal.hits == []


def test_ipv6_loopback_refused_and_admitted_when_allowed(settings, sites):
    v6 = sites(ok(b"v6"), host="::1")
    settings.KJDA_OUTBOUND_ALLOW = ""
    with guarded_client() as client, pytest.raises(OutboundRefused):
        client.get(f"{v6.url}/")
    settings.KJDA_OUTBOUND_ALLOW = "::1/128"
    with guarded_client() as client:
        assert client.get(f"{v6.url}/").content == b"v6"


def test_allow_list_admits_a_cidr_or_a_host(settings, sites):
    site = sites(ok(b"hello"))
    for allow in ("127.0.0.0/8", f"127.0.0.1:{site.port}", "localhost"):
        settings.KJDA_OUTBOUND_ALLOW = allow
        host = "localhost" if allow == "localhost" else "127.0.0.1"
        with guarded_client() as client:
            answer = client.get(f"http://{host}:{site.port}/")
        assert answer.content == b"hello"
        assert site.hits[-1][1]["host"] == f"{host}:{site.port}"  # the name, not the address


def test_vendor_headers_are_dropped_when_a_redirect_leaves_the_origin(settings, sites):
    """A Weaver-style token header goes to the configured OA, not along its redirect."""
    foreign = sites(ok(b"file"))
    oa = sites(redirect(f"http://localhost:{foreign.port}/f"))
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1,localhost"
    with guarded_client() as client:
        client.get(f"{oa.url}/weaver/weaver.file.FileDownload",
                   headers={"token": "SECRET-TOKEN", "appid": "APP", "Authorization": "B x"})
    assert oa.hits[0][1]["token"] == "SECRET-TOKEN"
    sent = foreign.hits[0][1]
    assert "token" not in sent and "appid" not in sent and "authorization" not in sent


def test_weaver_sends_its_token_only_to_its_own_host(settings, sites, monkeypatch):
    from kjda.connectors.base import AttachmentRef
    from kjda.connectors.weaver import WeaverConnector

    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1,localhost"
    foreign = sites(ok(b"%PDF-1.4 x", "application/pdf"))
    oa = WeaverConnector({"base_url": "http://127.0.0.1:1", "app_id": "A",
                          "signing_secret": SECRET})
    monkeypatch.setattr(oa, "_headers", lambda: {"token": "SECRET-TOKEN"})
    for url in (f"http://localhost:{foreign.port}/f", f"http://127.0.0.1:{foreign.port}/f"):
        ref = AttachmentRef(file_id="f1", filename="a.pdf", extra={"url": url})
        oa.download_attachment(None, ref, io.BytesIO())  # type: ignore[arg-type]
    assert all("token" not in headers for _, headers in foreign.hits)  # other port: foreign


def test_size_cap_and_time_cap(settings, sites):
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1"
    big = sites(ok(b"x" * 100_000, "application/octet-stream"))
    with guarded_client(max_bytes=10_000) as client, pytest.raises(OutboundRefused):
        client.get(f"{big.url}/")

    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
        ok(b"late")(h)

    sleepy = sites(slow)
    started = time.monotonic()
    with guarded_client(timeout=0.5) as client, pytest.raises(httpx.ReadTimeout):
        client.get(f"{sleepy.url}/")
    assert time.monotonic() - started < 2.5

    def trickle(h: BaseHTTPRequestHandler) -> None:  # each byte within the read timeout
        h.send_response(200)
        h.send_header("Content-Length", "40")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)

    dribbler = sites(trickle)
    started = time.monotonic()
    with guarded_client(timeout=2, total_timeout=1.0) as client, pytest.raises(OutboundRefused):
        client.get(f"{dribbler.url}/")
    assert time.monotonic() - started < 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _RawServer:
    """A non-HTTP TCP service on loopback (a Redis-like error line, or silence)."""

    def __init__(self, reply: bytes | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.recv(4096)
            if self.reply is None:
                time.sleep(4)  # never answers
            else:
                conn.sendall(self.reply)
            conn.close()

    def stop(self) -> None:
        self.sock.close()


def test_closed_port_redis_postgres_and_silence_read_the_same(settings, webhook, fast):
    """An allowed address (the admin trusts it) still can't be port-scanned through errors."""
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1"
    redis_like, silent = _RawServer(b"-ERR unknown command 'GET'\r\n"), _RawServer(None)
    ports = {"closed": _closed_port(), "redis": 6379, "postgresql": 5432,
             "redis-like": redis_like.port, "silent": silent.port}
    try:
        for n, port in enumerate(ports.values(), start=1):
            deliver(webhook, f"http://127.0.0.1:{port}/f.pdf", n=n)
        process_all()
    finally:
        redis_like.stop()
        silent.stop()
    from kjda.accounts.services import token_issue

    token = token_issue(user=_sysadmin(), name="t")[1]
    rows = Client().get("/api/v1/intake", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(rows) == len(ports)
    assert len({r["last_error"] for r in rows}) == 1, [r["last_error"] for r in rows]
    assert "unreachable" in rows[0]["last_error"] and not archived_anything()


def _sysadmin(username: str = "sys"):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    user = get_user_model().objects.create_user(username, password="Sys-Admin-Pass-2024")
    Profile.objects.create(user=user, roles=["sysadmin"])
    totp_activate(user)  # an administrator has TOTP (issue 15, item 3)
    return user


def test_notify_url_answer_body_never_reaches_the_user(settings, sites):
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1"

    def refuse(h: BaseHTTPRequestHandler) -> None:
        body = b'{"code": "E42", "secret": "internal detail"}'
        h.send_response(400)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    site = sites(refuse)
    oa = WebhookConnector({"signing_secret": SECRET, "notify_url": f"{site.url}/n"})
    oa.backoff = 0
    with pytest.raises(ConnectorError) as err:
        oa.notify(user_ids=["u"], title="t", text="x", url="u")
    assert "E42" not in err.value.message and "internal" not in err.value.message
    settings.KJDA_OUTBOUND_ALLOW = ""
    with pytest.raises(ConnectorError) as refused:
        oa.notify(user_ids=["u"], title="t", text="x", url="u")
    assert refused.value.message == err.value.message and len(site.hits) == 1


# --- allauth's requests: OIDC discovery, JWKS, token ------------------------------------------

def test_oidc_discovery_to_loopback_refused_without_allow(settings):
    from allauth.socialaccount.models import SocialApp

    from kjda_oasim.testing.oidc_op import OIDCProvider

    op = OIDCProvider(client_id="kjda-test")
    op.start()
    try:
        seen = []
        handle = op.handle
        op.handle = lambda method, path, *a, **kw: (seen.append(path), handle(method, path, *a,
                                                                               **kw))[1]
        SocialApp.objects.create(provider="oidc", provider_id="idp", name="IdP",
                                 client_id=op.client_id, secret=op.client_secret,
                                 settings={"server_url": op.issuer})
        settings.KJDA_OUTBOUND_ALLOW = ""
        answer = Client().post("/accounts/oidc/idp/login/")
        # a page that says the IdP is unreachable (never a 500), and the refusal audited
        assert answer.status_code == 502 and seen == []
        assert 'data-code="idp_unreachable"' in answer.content.decode()
        from kjda.audit.models import AuditEvent

        failed = AuditEvent.objects.filter(action="auth.failed").latest("pk")
        assert failed.detail["reason"] == "idp_unreachable"
        settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1"
        answer = Client().post("/accounts/oidc/idp/login/")
        assert answer.status_code == 302 and answer["Location"].startswith(op.issuer)
        assert seen  # the discovery document was fetched once allowed
    finally:
        op.stop()


def test_requests_session_refuses_and_does_not_send_a_post_body_off_origin(settings, sites):
    settings.KJDA_OUTBOUND_ALLOW = ""
    site = sites(ok())
    import requests

    with pytest.raises(requests.ConnectionError) as err:
        guarded_requests_session().get(f"{site.url}/.well-known/openid-configuration")
    assert str(err.value) == "the address unreachable" and site.hits == []
    other = sites(ok(b"{}"))

    def moved(h: BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", f"http://localhost:{other.port}/token")
        h.send_header("Content-Length", "0")
        h.end_headers()

    token = sites(moved)
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.1,localhost"
    answer = guarded_requests_session().post(f"{token.url}/token", data={"client_secret": "s"})
    assert answer.status_code == 307 and other.hits == []


# --- base URLs: set by the system administrator, every change audited ---------------------------

def test_base_url_change_is_audited_and_reserved_to_the_sysadmin(fonds, token):
    from kjda.accounts.services import token_issue
    from kjda.audit.models import AuditEvent
    from kjda.connectors.services import connector_create

    connector = connector_create(kind="wecom", name="企业微信", settings={
        "corp_id": "ww1", "corp_secret": "s", "token": "t",
        "encoding_aes_key": "a" * 43})
    url = f"/api/v1/connectors/{connector.pk}"
    body = json.dumps({"settings": {"api_base_url": "https://evil.example.net"}})
    archivist = Client().patch(url, body, content_type="application/json",
                               headers={"Authorization": f"Bearer {token}"})
    assert archivist.status_code == 403, archivist.content
    connector.refresh_from_db()
    assert "evil" not in json.dumps(connector.settings)
    created = Client().post("/api/v1/connectors", json.dumps({
        "kind": "wecom", "name": "x", "settings": {
            "corp_id": "ww2", "corp_secret": "s", "token": "t", "encoding_aes_key": "a" * 43,
            "api_base_url": "https://evil.example.net"}}), content_type="application/json",
        headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 403
    refusals = AuditEvent.objects.filter(action="access.denied",
                                         detail__reason="connector_destination_sysadmin_only")
    assert refusals.count() == 2  # both refusals audited, naming the setting
    assert {str(e.object_id) for e in refusals} == {str(connector.pk), ""}
    assert all(e.detail["settings"] == ["api_base_url"] for e in refusals)

    sys_token = token_issue(user=_sysadmin(), name="t")[1]
    changed = Client().patch(url, body, content_type="application/json",
                             headers={"Authorization": f"Bearer {sys_token}"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["settings"]["api_base_url"] == "https://evil.example.net"
    event = AuditEvent.objects.get(action="connector.base_url_changed")
    assert event.detail == {"kind": "wecom", "setting": "api_base_url",
                            "old": "https://qyapi.weixin.qq.com",
                            "new": "https://evil.example.net"}
    assert event.actor_name == "sys" and event.object_id == str(connector.pk)
    bad = Client().patch(url, json.dumps({"settings": {"api_base_url": "file:///etc/passwd"}}),
                         content_type="application/json",
                         headers={"Authorization": f"Bearer {sys_token}"})
    assert bad.status_code == 422


def test_through_an_egress_proxy_destinations_are_still_checked(settings, sites, monkeypatch):
    proxy = sites(ok(b"via proxy"))  # answers whatever it is asked to fetch
    settings.KJDA_OUTBOUND_PROXY = proxy.url
    settings.KJDA_OUTBOUND_ALLOW = ""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "files.vendor.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with guarded_client() as client:
        assert client.get("http://files.vendor.example/f").content == b"via proxy"
        with pytest.raises(OutboundRefused):
            client.get("http://127.0.0.1:8000/api/v1/records")
        with pytest.raises(OutboundRefused):
            client.get("http://169.254.169.254/latest/meta-data/")
    assert [path for path, _ in proxy.hits] == ["http://files.vendor.example/f"]
    assert proxy.hits[0][1]["accept-encoding"] == "identity"  # the size cap counts real bytes


def _tls_pair(tmp_path, name: str):
    """A CA and a server certificate for `name` signed by it (files in tmp_path)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject, key, issuer, issuer_key, *, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key, ca_name, ca_key,
                ca=False, san=[x509.DNSName(name)])
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp_path / "ca.pem", tmp_path / "leaf.pem"


def test_https_is_pinned_to_the_checked_address_and_verified_for_the_name(
        settings, sites, monkeypatch, tmp_path):
    import ssl

    from kjda.outbound import GuardedTransport

    ca, leaf = _tls_pair(tmp_path, "files.vendor.example")
    site = sites(ok(b"tls"))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(leaf)
    site.server.socket = server_ctx.wrap_socket(site.server.socket, server_side=True)
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "files.vendor.example":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings.KJDA_OUTBOUND_ALLOW = "files.vendor.example,127.0.0.1"
    client_ctx = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(transport=GuardedTransport(verify=client_ctx)) as client:
        answer = client.get(f"https://files.vendor.example:{site.port}/f")
        assert answer.content == b"tls"
        assert site.hits[-1][1]["host"] == f"files.vendor.example:{site.port}"
        with pytest.raises(httpx.ConnectError):  # the certificate is not for the bare address
            client.get(f"https://127.0.0.1:{site.port}/f")
