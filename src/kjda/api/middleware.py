"""The one API refusal ninja builds itself: a method the path doesn't take answers Django's
plain-text 405. Under /api/ it becomes our JSON error like every other refusal (the Allow header
stays)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from kjda.api.errors import json_error


class MethodNotAllowedJsonMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and request.path_info.startswith("/api/"):
            allowed = response["Allow"]
            response = json_error(405, "method_not_allowed",
                                  f"此接口不接受 {request.method} 方法（可用：{allowed}）",
                                  f"{request.method} is not allowed here (allowed: {allowed})")
            response["Allow"] = allowed
        return response
