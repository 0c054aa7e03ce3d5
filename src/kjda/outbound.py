"""The one way out: every outbound HTTP request KJDA makes (vendor APIs, attachment URLs from
callbacks, notify URLs, OIDC discovery/JWKS/token calls, the OA logins' calls, directory sync)
goes through the guarded transport here.

The guard works at the connection, not on the URL text: the host is resolved once, every
address it resolves to is classified, and the connection is made to that very address (the Host
header and the TLS server name stay the host's), so DNS rebinding has no window and odd spellings
of an address (`2130706433`, `0177.0.0.1`, `[::ffff:127.0.0.1]`) are judged as what they
resolve to. Redirects are followed by httpx through the same transport, so each hop is checked
again; headers set by the caller (tokens) are dropped when a hop leaves the first origin.
Loopback, private (RFC 1918, ULA, CGNAT), link-local (cloud metadata), multicast, unspecified,
reserved, benchmark and documentation addresses are refused, also inside IPv4-mapped,
IPv4-compatible, NAT64 and 6to4 IPv6 addresses, unless `KJDA_OUTBOUND_ALLOW` names the host or
its network. Responses are capped in size and in total time.

What a user sees of a failure is only that the address is unreachable: the detail (refused
address, refused connection, non-HTTP answer, timeout) goes to the server log, so the product
can't be used as a port scanner of the networks it sits in.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from requests import ConnectionError as RequestsConnectionError
from requests import PreparedRequest, Response, Session
from requests.adapters import BaseAdapter

from kjda.errors import DomainError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused unless allowed explicitly. Python's is_global covers most of these; they are listed
# so the rule doesn't change with the Python version (multicast is "global" to Python).
_BLOCKED_V4 = [(ipaddress.ip_network(n), why) for n, why in (
    ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"), ("100.64.0.0/10", "shared (CGNAT)"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("192.0.0.0/24", "IETF protocol assignment"), ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"), ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
)]
_BLOCKED_V6 = [(ipaddress.ip_network(n), why) for n, why in (
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("64:ff9b:1::/48", "local NAT64"),
    ("100::/64", "discard"), ("2001::/23", "IETF protocol assignment (Teredo…)"),
    ("2001:db8::/32", "documentation"), ("3fff::/20", "documentation"), ("5f00::/16", "SRv6"),
    ("fc00::/7", "unique local"), ("fe80::/10", "link-local"), ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)]
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPAT = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def address_refusal(address: str | IPAddress) -> str:
    """Why an outbound connection to `address` is refused ('' when it is a public address).
    IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str)
                                  else address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = None
        if ip in _MAPPED:
            embedded = ip.ipv4_mapped
        elif ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _SIX_TO_FOUR:
            embedded = ip.sixtofour
        if embedded is not None:
            why = address_refusal(embedded)
            return f"IPv6 form of {embedded} ({why})" if why else ""
        blocked = _BLOCKED_V6
    else:
        blocked = _BLOCKED_V4
    for net, why in blocked:
        if ip in net:
            return why
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return "not public"
    return ""


# --- the allow list ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Allowed:
    host: str = ""  # a host name, lower case
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None

    def admits(self, host: str, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip in self.network
        if self.host.startswith("*."):  # a domain's hosts: *.corp.local
            return host.endswith(self.host[1:])
        return host == self.host


@functools.lru_cache(maxsize=8)
def _parse_allow(value: str) -> tuple[_Allowed, ...]:
    """`host`, `*.domain`, `host:port`, `10.1.2.3`, `10.1.0.0/16`, `[fd00::1]:8443`,
    `fd00::/8`, comma or space separated."""
    entries = []
    for raw in re.split(r"[\s,]+", value.strip()):
        if not raw:
            continue
        item, port = raw, None
        if m := re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", item):  # [v6] or [v6]:port
            item, port = m.group(1), int(m.group(2)) if m.group(2) else None
        elif item.count(":") == 1:  # host:port, v4:port (a bare v6 has more colons)
            item, _, p = item.partition(":")
            port = int(p) if p.isdigit() else None
        try:
            entries.append(_Allowed(network=ipaddress.ip_network(item, strict=False), port=port))
        except ValueError:
            entries.append(_Allowed(host=item.lower().rstrip("."), port=port))
    return tuple(entries)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _allow_list() -> tuple[_Allowed, ...]:
    value = getattr(settings, "KJDA_OUTBOUND_ALLOW", "")
    if isinstance(value, (list, tuple)):
        value = ",".join(value)
    return _parse_allow(str(value or ""))


def _allowed(host: str, ip: IPAddress, port: int) -> bool:
    return any(entry.admits(host, ip, port) for entry in _allow_list())


# --- errors --------------------------------------------------------------------------------------

class OutboundRefused(httpx.TransportError):  # noqa: N818 - reads as what happened
    """The guard stopped a request: refused address, too large, too slow. A TransportError, so
    callers handle it like any network failure; `retryable` is False (trying again is moot)."""

    retryable = False


class Unreachable(DomainError):
    """The one thing a user learns about a failed outbound call."""

    status = 502

    def __init__(self, what: str = "", what_zh: str = "", *, code: str = "outbound_unreachable",
                 detail: dict | None = None) -> None:
        zh = f"{what_zh or what or '目标地址'}不可达"
        en = f"{what or 'the address'} unreachable"
        super().__init__(code, zh, en, detail=detail)


# What a caller of a guarded client catches: every network failure and refusal, and a URL
# httpx can't even parse (`http://0177.0.0.1/`), which is refused just the same.
OUTBOUND_ERRORS = (httpx.RequestError, httpx.InvalidURL)


def is_retryable(exc: BaseException) -> bool:
    return getattr(exc, "retryable", not isinstance(exc, httpx.InvalidURL))


def log_failure(what: str, url: str | httpx.URL, exc: BaseException | str) -> None:
    """The detail of a failure, for the server log only (never the remote body)."""
    try:
        target: Any = httpx.URL(str(url)).copy_with(query=None, fragment=None)  # tokens
    except httpx.InvalidURL:
        target = str(url).split("?", 1)[0][:200]
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    log.warning("outbound %s to %s failed: %s", what, target, str(reason)[:300])


def origin_of(url: str | httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the default port filled in: what "same host" means for
    deciding whether a vendor credential may go along with a request."""
    u = httpx.URL(str(url))
    port = u.port or {"https": 443, "http": 80}.get(u.scheme, 0)
    return u.scheme, u.host.lower().rstrip("."), port


def same_origin(url: str | httpx.URL, base: str | httpx.URL) -> bool:
    try:
        return bool(str(base)) and origin_of(url) == origin_of(base)
    except httpx.InvalidURL:
        return False


# --- the transport -------------------------------------------------------------------------------

def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"{host}: name does not resolve ({exc})") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise OutboundRefused(f"{host}: name does not resolve")
    return found


def check_destination(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to, all of them admissible; raises OutboundRefused when
    any is refused (a name that points inside is no vendor's)."""
    host = host.lower().rstrip(".")
    addresses = _resolve(host, port)
    for ip in addresses:
        why = address_refusal(ip)
        if why and not _allowed(host, ip, port):
            raise OutboundRefused(f"{host}:{port} resolves to {ip}, refused ({why}); "
                                  "KJDA_OUTBOUND_ALLOW can admit it")
    return addresses


# Headers that carry nothing of ours: kept when a redirect leaves the first origin, the
# rest (vendor tokens, app ids, signatures) are dropped.
_NEUTRAL_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent",
                              "range", "host", "content-type", "content-length",
                              "transfer-encoding", "connection"})
_ORIGIN_KEY = "kjda_first_origin"


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, *, max_bytes: int, deadline: float,
                 where: str) -> None:
        self._inner, self._max, self._deadline, self._where = inner, max_bytes, deadline, where

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._max:
                raise OutboundRefused(f"{self._where}: answer larger than {self._max} bytes")
            if time.monotonic() > self._deadline:
                raise OutboundRefused(f"{self._where}: answer not complete within the time "
                                      "allowed")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that connects only to admissible addresses (see the module doc)."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_bytes: int | None = None,
                 total_timeout: float | None = None) -> None:
        self._verify = verify
        self.max_bytes = max_bytes if max_bytes is not None else _setting(
            "KJDA_OUTBOUND_MAX_BYTES", 4 * 1024**3)
        self.total_timeout = total_timeout if total_timeout is not None else _setting(
            "KJDA_OUTBOUND_TOTAL_TIMEOUT", 600.0)
        # An egress proxy named by the operator (the environment's proxies are not used: a
        # proxy connects on our behalf). Through it the destination is still resolved and
        # checked here, but the proxy makes the connection.
        self.proxy = str(_setting("KJDA_OUTBOUND_PROXY", "") or "") or None
        # One pool per host name: a connection pinned to an address carries the TLS session
        # of the name it was opened for, and must not serve another name on that address.
        self._pools: dict[tuple[str, str, int], httpx.HTTPTransport] = {}

    def _pool(self, scheme: str, host: str, port: int) -> httpx.HTTPTransport:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= 32:
                self.close()
            pool = self._pools[key] = httpx.HTTPTransport(verify=self._verify, trust_env=False,
                                                          proxy=self.proxy)
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        where = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
        if url.scheme not in ("http", "https") or not url.host:
            raise OutboundRefused(f"{where}: only http(s) URLs are fetched", request=request)
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.host.lower().rstrip(".")
        try:
            addresses = check_destination(host, port)
        except OutboundRefused as exc:
            raise OutboundRefused(str(exc), request=request) from None
        deadline = time.monotonic() + self.total_timeout
        origin = origin_of(url)
        first = request.extensions.setdefault(_ORIGIN_KEY, origin)  # shared along redirects
        headers = httpx.Headers(request.headers)
        if first != origin:
            headers = httpx.Headers([(k, v) for k, v in request.headers.multi_items()
                                     if k.lower() in _NEUTRAL_HEADERS])
        # Uncompressed answers only: the size cap counts the bytes received, and a small
        # gzip body may decode to gigabytes.
        headers["Accept-Encoding"] = "identity"
        pool = self._pool(url.scheme, host, port)
        extensions = {k: v for k, v in request.extensions.items() if k != _ORIGIN_KEY}
        if self.proxy:
            response = pool.handle_request(httpx.Request(
                request.method, url, headers=headers, stream=request.stream,
                extensions=extensions))
            return self._capped(response, deadline, where)
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        for n, ip in enumerate(addresses):
            pinned = httpx.Request(request.method, url.copy_with(host=str(ip)), headers=headers,
                                   stream=request.stream, extensions=extensions)
            try:
                response = pool.handle_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if n + 1 < len(addresses) and time.monotonic() < deadline:
                    continue  # nothing was sent: the next address of the name may answer
                raise
            return self._capped(response, deadline, where)
        raise OutboundRefused(f"{where}: no address", request=request)  # pragma: no cover

    def _capped(self, response: httpx.Response, deadline: float, where: str) -> httpx.Response:
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code, headers=response.headers, extensions=response.extensions,
            stream=_CappedStream(response.stream, max_bytes=self.max_bytes, deadline=deadline,
                                 where=where))

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context: loading the CA bundle costs ~20 ms of CPU per client."""
    return ssl.create_default_context()


def guarded_client(*, timeout: float | httpx.Timeout = 15.0, base_url: str = "",
                   follow_redirects: bool = True, max_bytes: int | None = None,
                   total_timeout: float | None = None,
                   transport: httpx.BaseTransport | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx.Client whose every request (and redirect hop) goes through GuardedTransport.
    `transport` is for tests that answer in-process (MockTransport): nothing leaves then."""
    if not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(timeout, connect=min(float(timeout),
                                                     _setting("KJDA_OUTBOUND_CONNECT_TIMEOUT", 10.0)))
    return httpx.Client(
        base_url=base_url, timeout=timeout, follow_redirects=follow_redirects, max_redirects=5,
        trust_env=False,  # no proxy from the environment: it would connect for us, unchecked
        transport=transport or GuardedTransport(verify=_tls_context(), max_bytes=max_bytes,
                                                total_timeout=total_timeout),
        **kwargs)


# --- the same guard for `requests` (django-allauth makes its calls with it) -----------------------

def guarded_requests_session(*, timeout: float = 15.0, max_bytes: int = 1 << 20):
    """A requests.Session whose adapter sends through a guarded httpx client. requests follows
    redirects itself, hop by hop through the adapter, so each hop is checked; it drops the
    Authorization header when a hop changes host."""
    session = _GuardedSession()
    session.trust_env = False  # no proxy or .netrc from the environment
    adapter = _GuardedRequestsAdapter(max_bytes=max_bytes)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.request = functools.partial(session.request, timeout=timeout)  # type: ignore[method-assign]
    return session


class _GuardedSession(Session):
    max_redirects = 5

    def get_redirect_target(self, resp):
        """requests re-sends a 307/308's body (an OAuth client secret) to wherever the
        redirect points, and keeps headers other than Authorization: only GETs (and HEADs)
        are followed to another origin."""
        target = super().get_redirect_target(resp)
        if target and resp.request.method not in ("GET", "HEAD") and not same_origin(
                httpx.URL(resp.url).join(target), resp.url):
            return None
        return target


class _GuardedRequestsAdapter(BaseAdapter):
    def __init__(self, *, max_bytes: int) -> None:
        super().__init__()
        self._client = guarded_client(follow_redirects=False, max_bytes=max_bytes)

    def send(self, request: PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None,
             verify: bool | str = True,
             cert: Any = None, proxies: Any = None) -> Response:
        from requests.structures import CaseInsensitiveDict
        from requests.utils import get_encoding_from_headers

        if isinstance(timeout, tuple):
            connect, read = timeout
            limit = httpx.Timeout(read or 15.0, connect=connect or 10.0)
        else:
            limit = httpx.Timeout(timeout or 15.0)
        assert request.method is not None and request.url is not None  # set by prepare()
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            raise TypeError("a streamed request body is not supported")  # OAuth bodies are small
        # On the wire as http.client sends requests' headers: str values in Latin-1.
        headers = {k.encode("latin-1"): v if isinstance(v, bytes) else v.encode("latin-1")
                   for k, v in request.headers.items()}
        try:
            answer = self._client.request(request.method, request.url, content=body,
                                          headers=headers, timeout=limit)
        except httpx.HTTPError as exc:
            log_failure("request", request.url, exc)
            raise RequestsConnectionError(Unreachable().en, request=request) from None
        response = Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response.raw = io.BytesIO(answer.content)
        response.reason = answer.reason_phrase
        response.url = request.url
        response.request = request
        response.encoding = get_encoding_from_headers(response.headers)
        response.connection = self  # type: ignore[assignment]  # stubs allow only HTTPAdapter
        return response

    def close(self) -> None:
        self._client.close()
