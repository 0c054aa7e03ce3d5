from django.apps import AppConfig


class BackupConfig(AppConfig):
    name = "kjda.preservation.backup"
    label = "backup"
    verbose_name = "备份 / Backup"

    def ready(self) -> None:
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.todos import todo_provider
        from kjda.preservation.backup import providers
        from kjda.preservation.backup.tasks import backup_overdue_task

        todo_provider(providers.backup_todos)
        daily_job(backup_overdue_task)  # an overdue backup raises an alarm every day
