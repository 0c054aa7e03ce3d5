"""Django's error views, answering JSON under /api/ (what fails before ninja runs: an unknown
/api/ path, a body Django refuses to read, an exception in a middleware) and Django's own pages
elsewhere. Wired as handler400/403/404/500 in kjda.urls."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def json_error(status: int, code: str, zh: str, en: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": f"{zh} / {en}", "message_zh": zh,
                         "message_en": en}, status=status, json_dumps_params={"ensure_ascii": False})


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return json_error(413, "request_too_large", "请求体过大", "request body too large")
    return json_error(400, "bad_request", "请求不合法", "bad request")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return json_error(403, "forbidden", "无权执行此操作", "permission denied")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return json_error(404, "not_found", "接口不存在", "no such endpoint")


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return json_error(500, "internal_error", "服务器内部错误，已记录", "internal server error (logged)")
