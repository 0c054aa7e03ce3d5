"""The callback endpoint `/oa/<connector id>/callback`: thin over `callback_receive`."""

from __future__ import annotations

from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from kjda.connectors.base import CallbackRequest
from kjda.connectors.services import callback_receive
from kjda.errors import DomainError


def callback_query(raw: str) -> dict[str, str]:
    """Percent-decode once and keep '+' as '+': WeCom's echostr is base64 (oa-protocols §2.1)."""
    out: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        out.setdefault(unquote(key), unquote(value))
    return out


@csrf_exempt
def oa_callback(request: HttpRequest, connector_id: str) -> HttpResponse:
    raw_query = request.META.get("QUERY_STRING", "")
    callback = CallbackRequest(
        method=request.method or "POST", path=request.path, query=callback_query(raw_query),
        headers={k.lower(): v for k, v in request.headers.items()}, body=request.body,
        remote_addr=request.META.get("REMOTE_ADDR", ""), raw_query=raw_query)
    try:
        reply = callback_receive(connector_id=connector_id, request=callback)
    except DomainError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
