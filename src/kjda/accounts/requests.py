"""Request types for code that runs only for a signed-in user (types only: Django still builds
a plain HttpRequest).

`HttpRequest.user` is `User | AnonymousUser`; behind `login_required`/`perm_required` and the
API's authentication it is always a `User`, which is what the services take as `actor`.
Annotating such a view's `request` with `AuthedRequest` says so once, instead of narrowing
`request.user` in every handler."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthedRequest(HttpRequest):
    user: User
