from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "kjda.lifecycle.transfers"
    label = "transfers"
    verbose_name = "移交"

    def ready(self) -> None:
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.mentions import record_mentions_provider, volume_mentions_provider
        from kjda.lifecycle.todos import todo_provider
        from kjda.lifecycle.transfers import providers
        from kjda.lifecycle.transfers.tasks import (
            custody_overdue_task,
            transfer_checks_resume_task,
        )

        record_mentions_provider(providers.record_mentions)
        volume_mentions_provider(providers.volume_mentions)
        todo_provider(providers.todos)
        daily_job(custody_overdue_task)
        daily_job(transfer_checks_resume_task)
