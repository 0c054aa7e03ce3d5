"""The REST API under /api/v1/ (OpenAPI at /api/v1/docs). Routers are thin over services."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder
from ninja.security import HttpBearer, SessionAuth

from kjda.accounts.selectors import access_block_error, access_block_reason
from kjda.accounts.services import token_authenticate
from kjda.audit.services import audit_log
from kjda.errors import DomainError


def _access_check(request: HttpRequest) -> None:
    """The rule the web pages apply (kjda.web.middleware), on every API channel: an account
    that must change its password or set up a second factor is refused (403, audited)."""
    reason = access_block_reason(request.user, token=getattr(request, "api_token", None))
    if reason:
        audit_log(action="access.denied", request=request, outcome="denied",
                  object_type="api", object_id=request.path, detail={"reason": reason})
        raise access_block_error(reason)


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        api_token = token_authenticate(raw=token)
        if api_token is None:
            return None
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        _access_check(request)
        return api_token.user


class Session(SessionAuth):
    """A browser session (ninja's, CSRF-checked), under the same access rule."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is not None:
            _access_check(request)
        return user


AUTH = [BearerToken(), Session()]


class JSONRenderer(BaseRenderer):
    """orjson instead of json.dumps (the record answers carry the whole check report), with
    the values json cannot write (dates, Decimal, lazy text) written by ninja's encoder as
    before: the same JSON, in UTF-8 rather than \\u escapes."""

    media_type = "application/json"
    _default = staticmethod(NinjaJSONEncoder().default)

    def render(self, request: HttpRequest, data, *, response_status: int) -> bytes:
        return orjson.dumps(data, default=self._default,
                            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)


api = NinjaAPI(
    title="KJDA 电子会计档案 API",
    version="1",
    description="电子会计档案管理系统 KJDA 的接口。认证：`POST /api/v1/auth/token` 取得令牌后用 "
                "`Authorization: Bearer <token>`；浏览器会话亦可。",
    urls_namespace="api",
    docs_url="/docs",
    auth=AUTH,
    renderer=JSONRenderer(),
)


def error_response(request: HttpRequest, status: int, code: str, zh: str, en: str,
                   detail: dict | None = None) -> HttpResponse:
    body = {"code": code, "message": f"{zh} / {en}", "message_zh": zh, "message_en": en}
    if detail:
        body["detail"] = detail
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    audit_log(action="access.denied", request=request, outcome="denied",
              object_type="api", object_id=request.path, detail={"reason": "unauthenticated"})
    return error_response(request, 401, "unauthenticated", "未认证或令牌无效、已过期",
                          "not authenticated, or the token is invalid or expired")


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    listing = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}" for e in exc.errors)
    return error_response(request, 422, "invalid_request", f"请求不合法：{listing}",
                          f"invalid request: {listing}", {"errors": exc.errors})


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(request, exc.status_code, "http_error", str(exc), str(exc))


def _register_routers() -> None:
    from kjda.api import audit, auth, connectors, inspect, invoices, records, reference, users

    api.add_router("/auth", auth.router)
    api.add_router("", records.router)
    api.add_router("", reference.router)
    api.add_router("", connectors.router)
    api.add_router("", users.router)
    api.add_router("", audit.router)
    api.add_router("", inspect.router)
    api.add_router("", invoices.router)


_register_routers()
