"""HTTP client for platform APIs: access-token fetch and caching, retries with backoff on 5xx,
429 and network errors (honouring Retry-After), timeouts, and a configurable base URL so tests
point it at the local simulator (`kjda oa-sim`). Every request goes through the guarded
outbound transport (`kjda.outbound`); a failure reads "unreachable" to the user whatever it
was (refused address, refused connection, non-HTTP answer, timeout), the detail is logged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from kjda.connectors.base import ConnectorError
from kjda.outbound import OUTBOUND_ERRORS, guarded_client, is_retryable, log_failure

log = logging.getLogger(__name__)
RETRY_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


def unreachable(vendor: str, what: str = "接口", what_en: str = "API") -> ConnectorError:
    """The error a user sees for any failed outbound call: the same code and words whatever
    the cause (refused address, closed port, a non-HTTP service, timeout, an answer that is
    not the platform's), so errors can't map a network. The cause is in the server log."""
    return ConnectorError("platform_unavailable", f"{vendor} {what}不可达",
                          f"{vendor} {what_en} unreachable")


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
        self.client = guarded_client(base_url=base_url.rstrip("/"), timeout=timeout,
                                     transport=transport)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; raise ConnectorError when the platform can't be reached or keeps
        failing. The caller checks the vendor's own error code in the body."""
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, url, **kwargs)
            except OUTBOUND_ERRORS as exc:  # refused address, timeouts, resets, bad bodies
                last = f"{type(exc).__name__}: {exc}"
                if not is_retryable(exc):
                    break
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
        log_failure(f"{self.vendor} API {method}", self.client.base_url.join(url), last)
        raise unreachable(self.vendor)

    def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
            why = f"HTTP {response.status_code}, not JSON"
        else:
            why = f"HTTP {response.status_code}, not a JSON object"
        if data is None or (response.status_code >= 400 and not isinstance(data, dict)):
            log_failure(f"{self.vendor} API {method}", self.client.base_url.join(url), why)
            raise unreachable(self.vendor)
        return data

    def close(self) -> None:
        self.client.close()
