"""Directory sync: an OA platform's directory keeps KJDA's departments and people current.

For each enabled DingTalk / WeCom / Feishu connector: the departments are upserted (those no
longer listed are marked inactive); every KJDA user linked to that platform by SSO gets the
name, department and mobile the directory has; a linked user who is no longer in the
directory, or is listed as left / disabled, loses access at once (deactivated, tokens revoked,
sessions ended). Users are not re-activated here: that is the security administrator's call.
All of it is audited.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from kjda.accounts.models import DirectoryDepartment, Profile
from kjda.accounts.sso.services import OAIdentity, sso_profile_refresh, users_access_end
from kjda.audit.services import audit_log
from kjda.errors import DomainError

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

    from kjda.connectors.models import Connector

log = logging.getLogger(__name__)
DIRECTORY_KINDS = ("dingtalk", "wecom", "feishu")


def directory_sync(*, connector: Connector, actor: User | None = None,
                   request: HttpRequest | None = None) -> dict[str, int]:
    """Sync one connector's directory; returns counts. Raises (changing nothing) when the
    platform can't be read completely."""
    from allauth.socialaccount.models import SocialAccount

    from kjda.connectors.directory import directory_read
    from kjda.connectors.services import connector_build

    directory = directory_read(connector_build(connector))
    if not directory.people:  # an empty directory is a permission problem, not an exodus
        raise DomainError("directory_empty", "通讯录为空：请检查应用的通讯录权限",
                          "the directory lists nobody: check the app's contact permissions")
    source = connector.kind
    counts = {"departments": len(directory.departments), "people": len(directory.people),
              "updated": 0, "deactivated": 0}
    with transaction.atomic():
        listed = set()
        for dept in directory.departments:
            listed.add(dept.external_id)
            DirectoryDepartment.objects.update_or_create(
                source=source, external_id=dept.external_id,
                defaults={"name": dept.name, "parent_external_id": dept.parent_id,
                          "active": True})
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
        Profile.objects.bulk_update(changed, ["person_name", "department", "mobile",
                                              "updated_at"], batch_size=500)
        counts["changed"] = len(changed)
        for users, why in ((left, "left the organisation"), (disabled, "disabled")):
            users_access_end(users=users, actor=actor, request=request, reason=f"{source}: {why}")
        counts["deactivated"] = len(left) + len(disabled)
    audit_log(action="directory.sync", actor=actor, request=request, object_type="connector",
              object_id=str(connector.pk), detail={"kind": source, **counts})
    return counts


def _apply(profile, person) -> bool:
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


def directory_sync_due() -> list[dict]:
    """Sync every enabled directory connector not synced in the last
    KJDA_DIRECTORY_SYNC_MINUTES (periodic loop); a failure is logged and audited, and the
    others still run."""
    from kjda.connectors.models import Connector

    results: list[dict[str, Any]] = []
    every = settings.KJDA_DIRECTORY_SYNC_MINUTES * 60
    if every <= 0:
        return results
    for connector in Connector.objects.filter(enabled=True, kind__in=DIRECTORY_KINDS):
        # The shared cache table is the clock: add() succeeds once per interval.
        if not cache.add(f"kjda:directory-sync:{connector.pk}", "1", timeout=every):
            continue
        try:
            results.append({"connector": str(connector.pk), **directory_sync(connector=connector)})
        except Exception as exc:  # one platform failing must not stop the others
            log.warning("directory sync of %s failed: %s", connector.pk, exc)
            audit_log(action="directory.sync", object_type="connector",
                      object_id=str(connector.pk), outcome="failure",
                      detail={"kind": connector.kind, "error": str(exc)[:300]})
            results.append({"connector": str(connector.pk), "error": str(exc)})
    return results
