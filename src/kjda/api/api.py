"""The REST API under /api/v1/ (OpenAPI at /api/v1/docs). Routers are thin over services."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder
from ninja.security import HttpBearer, SessionAuth

from kjda.accounts.selectors import access_block_error, access_block_reason
from kjda.accounts.services import token_authenticate
from kjda.audit.services import audit_log
from kjda.errors import DomainError
from kjda.inputs import json_loads

log = logging.getLogger(__name__)


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


class JSONParser(Parser):
    """Request bodies within KJDA_MAX_JSON_BYTES / KJDA_MAX_JSON_DEPTH (kjda.inputs): ninja's
    json.loads would hit the recursion limit on deep input and answer a bare 400."""

    def parse_body(self, request: HttpRequest):
        kind = request.content_type or ""
        if kind != "application/json" and not kind.endswith("+json"):
            raise DomainError("unsupported_media_type",
                              f"请求体须为 JSON（Content-Type: application/json），收到 {kind[:100]!r}",
                              f"the body must be JSON (Content-Type: application/json), got "
                              f"{kind[:100]!r}", status=415)
        return json_loads(request.body, what=("请求体", "request body"))


api = NinjaAPI(
    title="KJDA 电子会计档案 API",
    version="1",
    description="电子会计档案管理系统 KJDA 的接口。认证：`POST /api/v1/auth/token` 取得令牌后用 "
                "`Authorization: Bearer <token>`；浏览器会话亦可。",
    urls_namespace="api",
    docs_url="/docs",
    auth=AUTH,
    renderer=JSONRenderer(),
    parser=JSONParser(),
)


def error_response(request: HttpRequest, status: int, code: str, zh: str, en: str,
                   detail: dict[str, Any] | None = None) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": f"{zh} / {en}", "message_zh": zh, "message_en": en}
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
    if isinstance(exc.__cause__, DomainError):  # ninja wraps what the body parser raised
        return _domain_error(request, exc.__cause__)
    return error_response(request, exc.status_code, "http_error", str(exc), str(exc))


# Bad input Django itself refuses while reading the request (bodies over
# DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a broken multipart body): JSON, not its HTML
# page. kjda.api.errors does the same for what is raised before ninja runs.
def bad_request_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        return error_response(request, 413, "request_too_large", "请求体过大", "request body too large")
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return error_response(request, 400, "too_many_fields", "请求的字段或文件过多",
                              "too many fields or files in the request")
    if isinstance(exc, MultiPartParserError):
        return error_response(request, 400, "multipart_malformed", "multipart 请求体不合法",
                              "malformed multipart body")
    return error_response(request, 400, "bad_request", "请求不合法", "bad request")


for _exc in (SuspiciousOperation, MultiPartParserError):
    # ninja types a handler's argument as "the exception or its class"; it passes the instance
    api.add_exception_handler(_exc, bad_request_body)  # type: ignore[arg-type]


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, "forbidden", "无权执行此操作", "permission denied")


@api.exception_handler(Exception)
def _internal_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Anything unexpected: logged with its traceback, answered without it."""
    log.error("API %s %s failed", request.method, request.path, exc_info=exc)
    return error_response(request, 500, "internal_error", "服务器内部错误，已记录",
                          "internal server error (logged)")


def _register_routers() -> None:
    from kjda.api import (
        appraisals,
        audit,
        auth,
        connectors,
        destructions,
        inspect,
        invoices,
        records,
        reference,
        users,
        volumes,
    )

    api.add_router("/auth", auth.router)
    api.add_router("", records.router)
    api.add_router("", reference.router)
    api.add_router("", connectors.router)
    api.add_router("", users.router)
    api.add_router("", audit.router)
    api.add_router("", inspect.router)
    api.add_router("", invoices.router)
    api.add_router("", appraisals.router)  # issue 17: 鉴定, retention rules, Art.8
    from kjda.api import transfers  # issue 17 item 3: hand-over and custody

    api.add_router("", transfers.router)
    api.add_router("", destructions.router)
    api.add_router("", volumes.router)
    from kjda.api import loans  # issue 18 item 3: borrowing

    api.add_router("", loans.router)
    from kjda.api import storage  # issue 19: fixity reports, replica lag

    api.add_router("", storage.router)
    from kjda.api import alarms  # issue 19 item 5: monitoring alarms

    api.add_router("", alarms.router)
    from kjda.api import formats  # issue 19 item 6: format watch

    api.add_router("", formats.router)


_register_routers()
