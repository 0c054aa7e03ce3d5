"""长期保存 (issue 19): the fixity audit's alarms, OA notices and check items on the records."""
from django.apps import AppConfig


class PreservationConfig(AppConfig):
    name = "kjda.lifecycle.preservation"
    label = "preservation"
    verbose_name = "长期保存"

    def ready(self) -> None:
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.preservation import providers
        from kjda.lifecycle.preservation.tasks import fixity_check_task
        from kjda.lifecycle.todos import todo_provider

        todo_provider(providers.fixity_todos)
        daily_job(fixity_check_task)  # the scheduled share of the fixity cycle, once a day
