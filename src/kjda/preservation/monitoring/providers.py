"""The dashboard to-do: unacknowledged alarms wait on the system administrator."""

from __future__ import annotations

from django.db.models import Count, Min

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles
from kjda.lifecycle.todos import Actor, Todo

from .models import Alarm
from .services import ALARMS_URL


def alarm_todos(actor: Actor) -> list[Todo]:
    if Role.SYSADMIN not in actor_roles(actor):
        return []
    agg = Alarm.objects.filter(acknowledged_at__isnull=True).aggregate(
        n=Count("pk"), since=Min("first_raised_at"))
    if not agg["n"]:
        return []
    return [Todo("alarm", f"{agg['n']} 个告警未确认 / {agg['n']} alarms not acknowledged",
                 ALARMS_URL, agg["since"])]
