"""Access to single records lent to a person (借阅, issue 18): what a borrower may do with a
record outside their data scope, and until when.

The loans app (kjda.lifecycle.loans, a higher layer) registers the provider; the record scope
(`kjda.accounts.selectors.record_scope_parts`), the file views (watermark, download and print
rights) and the API read grants through `actor_grants` only, so every channel applies the same
loan. The grants are read once per request and kept on the user object, like the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kjda.accounts.selectors' Actor, spelled out: selectors imports this module
    from typing import TypeAlias

    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


class Right:
    """What a loan allows on a record (a loan always allows viewing it online)."""

    VIEW = "view"  # 在线查阅
    DOWNLOAD = "download"  # 下载
    PRINT = "print"  # 打印

    ALL = ("view", "download", "print")


@dataclass(frozen=True)
class Grant:
    """One record lent to one person by one loan."""

    record_id: int
    loan_id: int
    loan_no: str  # 借阅单号, what a watermark carries
    rights: frozenset[str]
    until: datetime
    purpose: str = ""
    external: bool = False  # lent outside the unit (79号令 Art.13)

    def allows(self, right: str) -> bool:
        return right == Right.VIEW or right in self.rights


GrantProvider = Callable[["Actor"], dict[int, Grant]]
_providers: list[GrantProvider] = []


def grant_provider_register(provider: GrantProvider) -> None:
    """Called once from an app's ready(): `provider(actor)` returns the actor's current grants
    by record id (an empty dict for anonymous or inactive actors)."""
    if provider not in _providers:
        _providers.append(provider)


def grant_provider_unregister(provider: GrantProvider) -> None:
    """The inverse of grant_provider_register (tests that lend records with their own)."""
    if provider in _providers:
        _providers.remove(provider)


def actor_grants(actor: Actor) -> dict[int, Grant]:
    """The actor's current grants by record id. Where two loans lend one record, the one with
    more rights (then the later end) wins."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return {}
    cached: dict[int, Grant] | None = getattr(actor, "_kjda_grants_cache", None)
    if cached is not None:
        return cached
    out: dict[int, Grant] = {}
    for provider in _providers:
        for record_id, grant in provider(actor).items():
            held = out.get(record_id)
            if held is None or (len(grant.rights), grant.until) > (len(held.rights), held.until):
                out[record_id] = grant
    actor.__dict__["_kjda_grants_cache"] = out  # the user object lives for one request
    return out


def actor_grant(actor: Actor, record_id: int) -> Grant | None:
    return actor_grants(actor).get(int(record_id))
