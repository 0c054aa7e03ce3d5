"""格式监测 (issue 19 item 6): a registry of formats with a risk flag, and the migration job
that makes renditions of a flagged format's files, recorded as DA/T 94 迁移 events."""
from django.apps import AppConfig


class FormatWatchConfig(AppConfig):
    name = "kjda.lifecycle.formatwatch"
    label = "formatwatch"
    verbose_name = "格式监测"

    def ready(self) -> None:
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.formatwatch.services import format_migrate_flagged_task

        # Files of a flagged format filed since the last run (e.g. OFD without a rendition).
        daily_job(format_migrate_flagged_task)
