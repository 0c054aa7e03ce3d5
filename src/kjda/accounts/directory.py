"""Applying an OA platform's directory to KJDA's departments and people (the reading and the
schedule are the connectors' side: `kjda.connectors.directory`).

The departments are upserted (those no longer listed are marked inactive); every KJDA user
linked to that platform by SSO gets the name, department and mobile the directory has; a linked
user who is no longer in the directory, or is listed as left / disabled, loses access at once
(deactivated, tokens revoked, sessions ended). Users are not re-activated here: that is the
security administrator's call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.models import DirectoryDepartment, Profile
from kjda.accounts.sso.services import OAIdentity, sso_profile_refresh, users_access_end


class DepartmentIn(Protocol):
    @property
    def external_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def parent_id(self) -> str: ...


class PersonIn(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def department(self) -> str: ...

    @property
    def mobile(self) -> str: ...

    @property
    def active(self) -> bool: ...


class DirectoryIn(Protocol):
    """A platform's whole directory (`kjda.connectors.base.Directory` is one)."""

    @property
    def departments(self) -> Iterable[DepartmentIn]: ...

    @property
    def people(self) -> Mapping[str, PersonIn]: ...


@transaction.atomic
def directory_apply(*, source: str, directory: DirectoryIn, actor: User | None = None,
                    request: HttpRequest | None = None) -> dict[str, int]:
    """Bring the departments and the users linked to `source` (an SSO provider id) in line
    with `directory`; returns counts. The caller audits the sync (its transaction)."""
    departments = list(directory.departments)
    counts = {"departments": len(departments), "people": len(directory.people),
              "updated": 0, "deactivated": 0}
    listed = set()
    for dept in departments:
        listed.add(dept.external_id)
        DirectoryDepartment.objects.update_or_create(
            source=source, external_id=dept.external_id,
            defaults={"name": dept.name, "parent_external_id": dept.parent_id, "active": True})
    DirectoryDepartment.objects.filter(source=source).exclude(
        external_id__in=listed).update(active=False, synced_at=timezone.now())
    accounts = list(SocialAccount.objects.filter(provider=source).select_related("user"))
    profiles = {p.user_id: p for p in Profile.objects.filter(
        user_id__in=[a.user_id for a in accounts])}
    left: list[User] = []
    disabled: list[User] = []
    changed: list[Profile] = []
    for account in accounts:
        person = directory.people.get(account.uid)
        user = account.user
        if person is None or not person.active:
            if user.is_active:
                (left if person is None else disabled).append(user)
            continue
        profile = profiles.get(user.pk)
        if profile is None:
            sso_profile_refresh(user, OAIdentity(
                provider=source, user_id=person.user_id, name=person.name,
                mobile=person.mobile, department=person.department,
                mobile_verified=True, directory=True))
        elif _apply(profile, person):
            changed.append(profile)
        counts["updated"] += 1
    Profile.objects.bulk_update(changed, ["person_name", "department", "mobile", "updated_at"],
                                batch_size=500)
    counts["changed"] = len(changed)
    for users, why in ((left, "left the organisation"), (disabled, "disabled")):
        users_access_end(users=users, actor=actor, request=request, reason=f"{source}: {why}")
    counts["deactivated"] = len(left) + len(disabled)
    return counts


def _apply(profile: Profile, person: PersonIn) -> bool:
    """The directory's name, department and mobile onto the profile; whether any changed."""
    changed = False
    for target, value in (("person_name", person.name), ("department", person.department),
                          ("mobile", person.mobile)):
        if value and getattr(profile, target) != value:
            setattr(profile, target, value)
            changed = True
    if changed:
        profile.updated_at = timezone.now()
    return changed
