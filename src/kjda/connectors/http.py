"""HTTP client for platform APIs: access-token fetch and caching, retries with backoff on 5xx,
429 and network errors (honouring Retry-After), timeouts, and a configurable base URL so tests
point it at the local simulator (`kjda oa-sim`)."""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from kjda.connectors.base import ConnectorError

log = logging.getLogger(__name__)
RETRY_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: loading the CA bundle costs ~20 ms of CPU,
    which building a connector per callback or per event would otherwise pay each time."""
    return ssl.create_default_context()


@dataclass
class _CachedToken:
    value: str
    expires_at: float


class TokenCache:
    """Access tokens per (connector, kind of token), refreshed a minute before they expire.
    Process-local: each web/worker process fetches its own, as the vendors allow."""

    _lock = threading.Lock()
    _tokens: dict[str, _CachedToken] = {}

    @classmethod
    def get(cls, key: str, fetch: Callable[[], tuple[str, int]]) -> str:
        with cls._lock:
            cached = cls._tokens.get(key)
            if cached and cached.expires_at > time.monotonic():
                return cached.value
        value, ttl = fetch()
        with cls._lock:
            cls._tokens[key] = _CachedToken(value, time.monotonic() + max(30, ttl - 60))
        return value

    @classmethod
    def invalidate(cls, key: str) -> None:
        with cls._lock:
            cls._tokens.pop(key, None)

    @classmethod
    def send_refreshing(cls, key: str, send: Callable[[], T], *,
                        refused: Callable[[T], bool]) -> T:
        """`send()` (which takes the token of `key` from this cache); when its answer says the
        token was refused (expired or revoked before its time), drop the token and send once
        more: that second answer stands, whatever it is."""
        answer = send()
        if refused(answer):
            cls.invalidate(key)
            answer = send()
        return answer


class ApiClient:
    def __init__(self, *, base_url: str, vendor: str, timeout: float = 15.0, retries: int = 3,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None) -> None:
        self.vendor = vendor
        self.retries = retries
        self.backoff = backoff
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, verify=tls_context(),
                                   transport=transport, follow_redirects=True)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; raise ConnectorError when the platform can't be reached or keeps
        failing. The caller checks the vendor's own error code in the body."""
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # timeouts, refused connections, resets
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit() and attempt < self.retries:
                    time.sleep(min(float(retry_after), 30.0))
                    continue
            if attempt < self.retries:
                time.sleep(self.backoff * (2 ** attempt))
        log.warning("%s API %s %s failed: %s", self.vendor, method, url, last)
        raise ConnectorError("platform_unavailable",
                             f"{self.vendor} 接口不可用（{last}）",
                             f"{self.vendor} API unavailable ({last})")

    def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise ConnectorError("platform_bad_response",
                                 f"{self.vendor} 接口返回的不是 JSON（HTTP {response.status_code}）",
                                 f"{self.vendor} API answered non-JSON (HTTP {response.status_code})"
                                 ) from exc
        if response.status_code >= 400 and not isinstance(data, dict):
            raise ConnectorError("platform_error", f"{self.vendor} HTTP {response.status_code}",
                                 f"{self.vendor} HTTP {response.status_code}")
        return data

    def close(self) -> None:
        self.client.close()
