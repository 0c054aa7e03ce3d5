"""What the templates need to know about the acting user: which parts of the UI to show."""

from __future__ import annotations

from django.http import HttpRequest

from kjda.accounts.roles import PERMISSIONS, Role
from kjda.accounts.selectors import actor_roles


def kjda_access(request: HttpRequest) -> dict:
    roles = actor_roles(getattr(request, "user", None))
    can = {perm.replace(".", "_"): bool(roles & allowed) for perm, allowed in PERMISSIONS.items()}
    return {"can": can, "my_roles": [Role(r).label for r in sorted(roles)]}
