from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from kjda.accounts.models import ApiToken

TOKEN_PREFIX = "kjda_"
ALL_SCOPES = ("read", "ingest", "admin")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(*, user: AbstractBaseUser, name: str, scopes: list[str] | None = None,
                ttl_hours: int | None = None) -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hours = ttl_hours if ttl_hours is not None else settings.KJDA_TOKEN_TTL_HOURS
    token = ApiToken.objects.create(
        user=user, name=name, key_hash=_hash(raw), prefix=raw[:12],
        scopes=list(scopes or ["read", "ingest"]),
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    return token, raw


def token_for_credentials(*, username: str, password: str, name: str = "api",
                          request=None) -> tuple[ApiToken, str] | None:
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    return token_issue(user=user, name=name)


def token_authenticate(*, raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    # Raw SQL, two narrow lookups: this runs on every API call (half the cost of the join).
    token = next(iter(ApiToken.objects.raw(
        "SELECT * FROM accounts_apitoken WHERE key_hash = %s", [_hash(raw)])), None)
    if token is not None:
        user_model = get_user_model()
        token.user = next(iter(user_model.objects.raw(
            f"SELECT * FROM {user_model._meta.db_table} WHERE id = %s",  # noqa: S608 - table name from the model
            [token.user_id])), None)
    now = timezone.now()
    if token is None or token.revoked_at or token.expires_at <= now or not token.user.is_active:
        return None
    # Touch at most once a minute: a write per API call would serialise readers on SQLite.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def system_user(*, name: str):
    """The account that OA intake and other automatic steps act as (no password, no login)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=name[:150],
                                                     defaults={"is_active": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
