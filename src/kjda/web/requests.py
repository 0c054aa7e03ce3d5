"""The request type of the pages that answer htmx (types only: see kjda.accounts.requests)."""

from __future__ import annotations

from django_htmx.middleware import HtmxDetails

from kjda.accounts.requests import AuthedRequest


class HtmxRequest(AuthedRequest):
    """A signed-in request through django-htmx's middleware, which sets `request.htmx`."""

    htmx: HtmxDetails
